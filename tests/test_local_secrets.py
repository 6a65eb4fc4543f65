"""The local task's secrets (local.secrets): read from the local AWS as the ECS agent reads them, or from
.env.local for make run, and synced from .env.local into the local AWS; never a value in any output."""

from __future__ import annotations

import json

import boto3
import botocore.client
import pytest
from moto import mock_aws

from local import secrets
from local.secrets import Pseudo, SecretsError, parse_value_from, resolve, resolve_task_secrets, sync

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's default account
PARTIAL = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db"
COMPLETE = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:token-AbCdEf"
HTPASSWD = "alice:$apr1$Zx9$0123456789abcdefABCDE.\nbob:$apr1$Qw8$FEDCBA9876543210fedcb/"
# The values these tests write: none may appear in any output.
VALUES = {"API_TOKEN": "tok-1111-secret", "DB_PASSWORD": "pw-2222-secret", "DB_USER": "user-3333-secret",
          "SIGNING": "sig-4444-secret", "BASIC_AUTH_HTPASSWD": HTPASSWD}


def _template(tmp_path, secrets_by_container: dict[str, list[tuple[str, object]]], name: str = "stack"):
    """A template shaped as cdk synth writes it: one task definition, its containers' Secrets."""
    containers = []
    for container_name in ("echo", "nginx"):
        container = {"Name": container_name, "Environment": [{"Name": "PLAIN", "Value": "1"}]}
        if refs := secrets_by_container.get(container_name):
            container["Secrets"] = [{"Name": variable, "ValueFrom": value_from} for variable, value_from in refs]
        containers.append(container)
    path = tmp_path / f"{name}.template.json"
    path.write_text(json.dumps({"Resources": {"Task": {"Type": "AWS::ECS::TaskDefinition",
                                                       "Properties": {"ContainerDefinitions": containers}}}}))
    return path


# As the synthesized dev stack spells an SSM parameter of the same account and region.
SSM_JOIN = {"Fn::Join": ["", [f"arn:aws:ssm:{REGION}:", {"Ref": "AWS::AccountId"}, ":parameter/echo/api-token"]]}
ALL = {"echo": [("API_TOKEN", SSM_JOIN), ("DB_PASSWORD", f"{PARTIAL}:password::"), ("DB_USER", f"{PARTIAL}:user::"),
                ("SIGNING", COMPLETE)],
       "nginx": [("BASIC_AUTH_HTPASSWD", "/echo/htpasswd")]}


def _env_file(tmp_path, lines: str):
    path = tmp_path / ".env.local"
    path.write_text(lines)
    return path


ENV_LINES = (f"API_TOKEN={VALUES['API_TOKEN']}\nDB_PASSWORD='{VALUES['DB_PASSWORD']}'\n"
             f"DB_USER=\"{VALUES['DB_USER']}\"\nSIGNING={VALUES['SIGNING']}  # a comment\n"
             'BASIC_AUTH_HTPASSWD="' + HTPASSWD.replace("\n", "\\n") + '"\n')


@pytest.fixture
def aws(monkeypatch):
    """moto in this process, behind the AWS_ENDPOINT_URL the code insists on (mock_aws intercepts only AWS's own
    endpoints, so the clients are made without it)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")  # the fixture's clients: moto's in-process
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setattr(secrets.LocalAws, "_new_client",
                        lambda self, service, region: self.session.client(service, region_name=region))
    with mock_aws():
        yield {"ssm": boto3.client("ssm", region_name=REGION), "sm": boto3.client("secretsmanager", region_name=REGION)}


def _no_values(*texts: str) -> None:
    for text in texts:
        for variable, value in VALUES.items():
            for part in value.split("\n"):
                assert part not in text, f"the value of {variable} was printed"


# --- the template -------------------------------------------------------------------------------------------------


def test_intrinsics_resolve_with_the_aws_being_talked_to():
    asked = []
    pseudo = Pseudo("eu-west-1", lambda: asked.append(1) or "210987654321")
    assert resolve("/echo/api-token", pseudo) == "/echo/api-token"
    assert not asked  # the account is asked for only when a template needs it
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:", {"Ref": "AWS::Region"}, ":",
                                {"Ref": "AWS::AccountId"}, ":parameter/echo/api-token"]]}
    assert resolve(joined, pseudo) == "arn:aws:ssm:eu-west-1:210987654321:parameter/echo/api-token"
    sub = {"Fn::Sub": ["arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${Name} "
                       "${!Kept}.${AWS::URLSuffix}",
                       {"Name": {"Fn::Join": ["/", ["echo", "x"]]}}]}
    assert resolve(sub, pseudo) == "arn:aws:ssm:eu-west-1:210987654321:parameter/echo/x ${Kept}.amazonaws.com"
    assert asked == [1]  # once
    assert resolve({"Ref": "AWS::Partition"}, Pseudo("cn-north-1", "1")) == "aws-cn"
    with pytest.raises(SecretsError, match="cannot resolve Ref SomeParameter"):
        resolve({"Ref": "SomeParameter"}, pseudo)
    with pytest.raises(SecretsError, match="cannot resolve"):
        resolve({"Fn::GetAtt": ["A", "Arn"]}, pseudo)


def test_value_from_names_ssm_parameters_and_secrets_as_ecs_reads_them():
    ssm = parse_value_from("echo", "API_TOKEN", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/echo/api-token")
    assert (ssm.kind, ssm.source, ssm.region) == ("ssm", "/echo/api-token", REGION)
    assert parse_value_from("echo", "X", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/plain").source == "plain"
    assert parse_value_from("echo", "X", "/echo/name").source == "/echo/name"
    partial = parse_value_from("echo", "DB_PASSWORD", f"{PARTIAL}:password::")
    assert (partial.kind, partial.source, partial.json_key, partial.version_stage, partial.suffix) == (
        "secretsmanager", PARTIAL, "password", None, None)
    complete = parse_value_from("echo", "SIGNING", COMPLETE)
    assert (complete.source, complete.secret_name, complete.suffix, complete.json_key) == (
        COMPLETE, "token", "AbCdEf", None)
    pinned = parse_value_from("echo", "X", f"{COMPLETE}:key:AWSPREVIOUS:0123-abc")
    assert (pinned.source, pinned.json_key, pinned.version_stage, pinned.version_id) == (
        COMPLETE, "key", "AWSPREVIOUS", "0123-abc")
    with pytest.raises(SecretsError, match="neither an SSM parameter"):
        parse_value_from("echo", "X", "arn:aws:s3:::bucket")


def test_the_real_template_shape_lists_every_container(tmp_path):
    template = _template(tmp_path, ALL)
    assert secrets.secret_names(template) == {"echo": ["API_TOKEN", "DB_PASSWORD", "DB_USER", "SIGNING"],
                                              "nginx": ["BASIC_AUTH_HTPASSWD"]}


# --- at task start, from the local AWS ----------------------------------------------------------------------------


def test_ssm_string_and_secure_string(aws, tmp_path):
    aws["ssm"].put_parameter(Name="/echo/api-token", Value=VALUES["API_TOKEN"], Type="SecureString")
    aws["ssm"].put_parameter(Name="/echo/htpasswd", Value=HTPASSWD, Type="String")
    template = _template(tmp_path, {"echo": [("API_TOKEN", SSM_JOIN)], "nginx": [("BASIC_AUTH_HTPASSWD",
                                                                                  "/echo/htpasswd")]})
    assert resolve_task_secrets(template, tmp_path / "absent") == {
        "echo": {"API_TOKEN": VALUES["API_TOKEN"]}, "nginx": {"BASIC_AUTH_HTPASSWD": HTPASSWD}}


def test_secrets_manager_plain_json_key_and_version_stage(aws, tmp_path):
    aws["sm"].create_secret(Name="db", SecretString=json.dumps({"password": "old", "port": 5432}))
    aws["sm"].put_secret_value(SecretId="db", SecretString=json.dumps({"password": VALUES["DB_PASSWORD"],
                                                                       "port": 5432}))
    aws["sm"].create_secret(Name="token", SecretString=VALUES["SIGNING"],
                            Tags=[{"Key": "_custom_id_", "Value": "AbCdEf"}])
    template = _template(tmp_path, {"echo": [
        ("DB_PASSWORD", f"{PARTIAL}:password::"), ("DB_PORT", f"{PARTIAL}:port::"),
        ("DB_OLD", f"{PARTIAL}:password:AWSPREVIOUS:"), ("WHOLE", PARTIAL), ("SIGNING", COMPLETE)]})
    echo = resolve_task_secrets(template, tmp_path / "absent")["echo"]
    assert echo == {"DB_PASSWORD": VALUES["DB_PASSWORD"], "DB_PORT": "5432", "DB_OLD": "old",
                    "WHOLE": json.dumps({"password": VALUES["DB_PASSWORD"], "port": 5432}),
                    "SIGNING": VALUES["SIGNING"]}


def test_a_complete_arn_must_match_the_secret_a_partial_arn_its_name(aws, tmp_path):
    aws["sm"].create_secret(Name="token", SecretString=VALUES["SIGNING"])  # moto's own random suffix
    template = _template(tmp_path, {"echo": [("SIGNING", COMPLETE), ("BY_NAME", COMPLETE.rsplit("-", 1)[0])]})
    with pytest.raises(SecretsError) as raised:
        resolve_task_secrets(template, tmp_path / "absent")
    message = str(raised.value)
    assert f"SIGNING (container echo) from Secrets Manager secret {COMPLETE}" in message
    assert "BY_NAME" not in message  # the partial ARN found the secret by its name
    _no_values(message)


def test_a_missing_key_or_a_non_json_secret_names_variable_source_and_key_only(aws, tmp_path):
    aws["sm"].create_secret(Name="db", SecretString=json.dumps({"user": VALUES["DB_USER"]}))
    aws["sm"].create_secret(Name="plain", SecretString=VALUES["SIGNING"])
    template = _template(tmp_path, {"echo": [("DB_PASSWORD", f"{PARTIAL}:password::")]})
    with pytest.raises(SecretsError, match=f"DB_PASSWORD \\(container echo\\): Secrets Manager secret {PARTIAL} "
                                           r"\(JSON key password\) has no key password") as raised:
        resolve_task_secrets(template, tmp_path / "absent")
    _no_values(str(raised.value))
    template = _template(tmp_path, {"nginx": [("X", f"{PARTIAL[:-2]}plain:key::")]})
    with pytest.raises(SecretsError, match="is not a JSON object, so it has no key key") as raised:
        resolve_task_secrets(template, tmp_path / "absent")
    _no_values(str(raised.value))


def test_missing_in_the_local_aws_names_each_variable_source_and_line(aws, tmp_path):
    template = _template(tmp_path, ALL)
    with pytest.raises(SecretsError) as raised:
        resolve_task_secrets(template, tmp_path / ".env.local")
    message = str(raised.value)
    assert "5 secret variable(s) have no value in the local AWS" in message
    assert "API_TOKEN (container echo) from SSM parameter /echo/api-token: API_TOKEN=..." in message
    assert "BASIC_AUTH_HTPASSWD (container nginx) from SSM parameter /echo/htpasswd: BASIC_AUTH_HTPASSWD=..." in message


def test_without_secrets_nothing_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:1")  # nothing answers there
    monkeypatch.setattr(secrets, "LocalAws", None)
    assert resolve_task_secrets(_template(tmp_path, {}), tmp_path / "absent") == {}


# --- make run: .env.local, no AWS ---------------------------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("an AWS call without a local AWS")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    monkeypatch.setattr(boto3, "Session", refuse)
    monkeypatch.setattr(boto3, "client", refuse)


def test_make_run_reads_env_local_and_calls_no_aws(no_aws, tmp_path):
    env_file = _env_file(tmp_path, ENV_LINES)
    assert resolve_task_secrets(_template(tmp_path, ALL), env_file) == {
        "echo": {name: VALUES[name] for name in ("API_TOKEN", "DB_PASSWORD", "DB_USER", "SIGNING")},
        "nginx": {"BASIC_AUTH_HTPASSWD": HTPASSWD}}


def test_make_run_names_what_env_local_lacks_without_values(no_aws, tmp_path):
    env_file = _env_file(tmp_path, f"API_TOKEN={VALUES['API_TOKEN']}\nDB_USER=\nSIGNING\n")
    with pytest.raises(SecretsError) as raised:
        resolve_task_secrets(_template(tmp_path, ALL), env_file)
    message = str(raised.value)
    for variable in ("DB_PASSWORD", "DB_USER", "SIGNING", "BASIC_AUTH_HTPASSWD"):
        assert f"{variable}=..." in message
    assert "API_TOKEN" not in message
    assert f"DB_PASSWORD (container echo) from Secrets Manager secret {PARTIAL} (JSON key password)" in message
    _no_values(message)


def test_env_local_format(tmp_path):
    env_file = _env_file(tmp_path, (
        'DOUBLE="a\\nb\\t\\"c\\""\n'
        "SINGLE='a\\nb $x'\n"
        'MULTI="line 1\nline 2"\n'
        "HASH=al:$apr1$s$h\n"
        "COMMENT=value # comment\n"
        "export EXPORTED=1\n"))
    assert secrets.read_env_file(env_file) == {"DOUBLE": 'a\nb\t"c"', "SINGLE": "a\\nb $x", "MULTI": "line 1\nline 2",
                                               "HASH": "al:$apr1$s$h", "COMMENT": "value", "EXPORTED": "1"}
    assert secrets.read_env_file(tmp_path / "absent") == {}


# --- sync ---------------------------------------------------------------------------------------------------------


def test_sync_creates_then_leaves_unchanged_then_updates(aws, tmp_path, capsys):
    template, env_file = _template(tmp_path, ALL), _env_file(tmp_path, ENV_LINES)
    assert sync(template, env_file) == 0
    out = capsys.readouterr()
    assert out.out.count(": created") == 4 and not out.err  # 2 parameters, 2 secrets (db holds two keys)
    assert "SSM parameter /echo/api-token <- API_TOKEN (container echo): created" in out.out
    parameter = aws["ssm"].get_parameter(Name="/echo/api-token", WithDecryption=True)["Parameter"]
    assert (parameter["Type"], parameter["Value"]) == ("SecureString", VALUES["API_TOKEN"])
    assert json.loads(aws["sm"].get_secret_value(SecretId=PARTIAL)["SecretString"]) == {
        "password": VALUES["DB_PASSWORD"], "user": VALUES["DB_USER"]}
    # The complete ARN, random suffix and all, names the created secret.
    assert aws["sm"].get_secret_value(SecretId=COMPLETE)["SecretString"] == VALUES["SIGNING"]
    assert resolve_task_secrets(template, env_file)["echo"]["SIGNING"] == VALUES["SIGNING"]

    assert sync(template, env_file) == 0
    out = capsys.readouterr()
    assert out.out.count(": unchanged") == 4 and "created" not in out.out

    env_file.write_text(ENV_LINES.replace(VALUES["DB_USER"], "user-5555-new").replace(VALUES["SIGNING"], "sig-6666"))
    assert sync(template, env_file) == 0
    out = capsys.readouterr()
    assert f"Secrets Manager secret {PARTIAL} <- DB_PASSWORD (container echo), DB_USER (container echo): updated" \
        in out.out
    assert f"Secrets Manager secret {COMPLETE} <- SIGNING (container echo): updated" in out.out
    assert out.out.count(": unchanged") == 2
    assert resolve_task_secrets(template, env_file)["echo"] == {
        "API_TOKEN": VALUES["API_TOKEN"], "DB_PASSWORD": VALUES["DB_PASSWORD"], "DB_USER": "user-5555-new",
        "SIGNING": "sig-6666"}
    _no_values(out.out, out.err)
    assert "user-5555-new" not in out.out and "sig-6666" not in out.out


def test_sync_merges_a_key_into_an_existing_object_and_updates_ssm_in_place(aws, tmp_path, capsys):
    aws["sm"].create_secret(Name="db", SecretString=json.dumps({"host": "db.local", "user": VALUES["DB_USER"]}))
    aws["ssm"].put_parameter(Name="/echo/api-token", Value="old", Type="String")
    template = _template(tmp_path, {"echo": [("API_TOKEN", SSM_JOIN), ("DB_PASSWORD", f"{PARTIAL}:password::"),
                                             ("DB_USER", f"{PARTIAL}:user::")]})
    assert sync(template, _env_file(tmp_path, f"API_TOKEN={VALUES['API_TOKEN']}\n"
                                              f"DB_PASSWORD={VALUES['DB_PASSWORD']}\n")) == 0
    out = capsys.readouterr().out
    assert out.count(": updated") == 2
    assert json.loads(aws["sm"].get_secret_value(SecretId="db")["SecretString"]) == {
        "host": "db.local", "user": VALUES["DB_USER"], "password": VALUES["DB_PASSWORD"]}
    parameter = aws["ssm"].get_parameter(Name="/echo/api-token", WithDecryption=True)["Parameter"]
    assert (parameter["Type"], parameter["Value"]) == ("String", VALUES["API_TOKEN"])  # its type is kept
    _no_values(out)


def test_sync_keeps_what_the_local_aws_has_and_env_local_does_not(aws, tmp_path, capsys):
    aws["ssm"].put_parameter(Name="/echo/htpasswd", Value=HTPASSWD, Type="SecureString")
    template = _template(tmp_path, {"nginx": [("BASIC_AUTH_HTPASSWD", "/echo/htpasswd")]})
    assert sync(template, tmp_path / "absent.env") == 0
    assert "BASIC_AUTH_HTPASSWD (container nginx): unchanged (not in the env file" in capsys.readouterr().out


def test_sync_missing_in_both_exits_1_listing_each_variable(aws, tmp_path, capsys):
    env_file = _env_file(tmp_path, f"API_TOKEN={VALUES['API_TOKEN']}\nDB_USER={VALUES['DB_USER']}\n")
    assert secrets.main(["sync", "--template", str(_template(tmp_path, ALL)), "--env-file", str(env_file)]) == 1
    out = capsys.readouterr()
    assert "3 secret variable(s) have no value in the local AWS nor in" in out.err
    assert f"DB_PASSWORD (container echo) from Secrets Manager secret {PARTIAL} (JSON key password): " \
           "DB_PASSWORD=..." in out.err
    assert f"SIGNING (container echo) from Secrets Manager secret {COMPLETE}: SIGNING=..." in out.err
    assert "BASIC_AUTH_HTPASSWD (container nginx) from SSM parameter /echo/htpasswd: BASIC_AUTH_HTPASSWD=..." \
        in out.err
    assert "API_TOKEN (container echo): created" in out.out  # what it has is synced all the same
    _no_values(out.out, out.err)


def test_sync_refuses_without_a_local_endpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", lambda *a: pytest.fail("an AWS call"))
    template, env_file = _template(tmp_path, ALL), _env_file(tmp_path, ENV_LINES)
    assert sync(template, env_file) == 1
    assert "AWS_ENDPOINT_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://ssm.us-east-1.amazonaws.com")
    assert sync(template, env_file) == 1
    assert "is a real AWS endpoint" in capsys.readouterr().err


def test_a_complete_arn_of_another_account_is_not_created_under_a_wrong_arn(aws, tmp_path, capsys):
    other = COMPLETE.replace(ACCOUNT, "111111111111")
    template = _template(tmp_path, {"echo": [("SIGNING", other)]})
    assert sync(template, _env_file(tmp_path, f"SIGNING={VALUES['SIGNING']}\n")) == 1
    err = capsys.readouterr().err
    assert f"not {other}" in err and "removed it again" in err
    assert aws["sm"].list_secrets()["SecretList"] == []
    _no_values(err)


def test_a_secret_of_that_name_under_another_suffix_is_named_not_overwritten(aws, tmp_path, capsys):
    aws["sm"].create_secret(Name="token", SecretString="by hand")  # moto's own random suffix, not AbCdEf
    template = _template(tmp_path, {"echo": [("SIGNING", COMPLETE)]})
    assert sync(template, _env_file(tmp_path, f"SIGNING={VALUES['SIGNING']}\n")) == 1
    err = capsys.readouterr().err
    assert f"has a secret named token under another ARN than {COMPLETE}" in err
    assert aws["sm"].get_secret_value(SecretId="token")["SecretString"] == "by hand"
    _no_values(err)


def test_a_version_stage_is_written_and_a_pinned_version_id_is_not(aws, tmp_path, capsys):
    aws["sm"].create_secret(Name="db", SecretString=json.dumps({"password": "current"}))
    staged = _template(tmp_path, {"echo": [("DB_PASSWORD", f"{PARTIAL}:password:STAGED:")]})
    env_file = _env_file(tmp_path, f"DB_PASSWORD={VALUES['DB_PASSWORD']}\n")
    assert sync(staged, env_file) == 0
    assert "(version stage STAGED) <- DB_PASSWORD (container echo): created" in capsys.readouterr().out
    assert resolve_task_secrets(staged, env_file) == {"echo": {"DB_PASSWORD": VALUES["DB_PASSWORD"]}}
    assert json.loads(aws["sm"].get_secret_value(SecretId="db")["SecretString"]) == {"password": "current"}
    pinned = _template(tmp_path, {"echo": [("DB_PASSWORD", f"{PARTIAL}:password::{'0' * 32}")]}, "pinned")
    assert sync(pinned, env_file) == 1
    err = capsys.readouterr().err
    assert "is pinned to a version id, which sync cannot write" in err
    _no_values(err)


def test_the_task_environments_are_plain_variables_and_secrets_for_every_container(no_aws, tmp_path):
    from local.task import TaskError, task_environments

    template, env_file = _template(tmp_path, ALL), _env_file(tmp_path, ENV_LINES)
    environments = task_environments(template, env_file)
    assert environments["nginx"] == {"PLAIN": "1", "BASIC_AUTH_HTPASSWD": HTPASSWD}
    assert environments["echo"]["PLAIN"] == "1" and environments["echo"]["SIGNING"] == VALUES["SIGNING"]
    assert task_environments(_template(tmp_path, {}, "none"), tmp_path / "absent") == {
        "echo": {"PLAIN": "1"}, "nginx": {"PLAIN": "1"}}
    with pytest.raises(TaskError, match="container echo: PLAIN both in Environment and Secrets"):
        task_environments(_template(tmp_path, {"echo": [("PLAIN", "/p")]}, "both"), _env_file(tmp_path, "PLAIN=x\n"))
    with pytest.raises(TaskError, match=r"^secrets: 5 secret variable\(s\) have no value") as raised:
        task_environments(template, tmp_path / "absent")
    _no_values(str(raised.value))
