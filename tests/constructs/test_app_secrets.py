"""The echo container's own configuration: extra variables in the task definition, secrets read by ECS at
task start from SSM Parameter Store or Secrets Manager, and an execution role that may read exactly those."""

from __future__ import annotations

import json

import pytest

from tests.synth import synthesize

KEY = "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012"
PARTIAL = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"
COMPLETE = "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf"
HTPASSWD = "arn:aws:secretsmanager:us-east-1:123456789012:secret:staging/htpasswd"


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    return synthesize("dev", tmp_path_factory.mktemp("cdk.out-secrets"), image_source="build",
                      echo_environment="LOG_LEVEL=debug,FEATURE_X=on",
                      secrets=f"API_TOKEN=/echo/api-token,DB_PASSWORD={PARTIAL}:password,SIGNING={COMPLETE}",
                      secrets_kms_key_arn=KEY, basic_auth_secret=HTPASSWD)


def _statements(synth) -> list[dict]:
    return synth.policy_of("TaskTaskDefinitionExecutionRole")["PolicyDocument"]["Statement"]


def test_the_application_variables_are_in_the_echo_container_only(configured):
    environment = {e["Name"]: e["Value"] for e in configured.containers["echo"]["Environment"]}
    assert environment == {"LOG_LEVEL": "debug", "FEATURE_X": "on", "PORT": "8080"}
    assert "LOG_LEVEL" not in {e["Name"] for e in configured.containers["nginx"]["Environment"]}


def test_secrets_name_their_sources_and_never_their_values(configured):
    secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in configured.containers["echo"]["Secrets"]}
    assert set(secrets) == {"API_TOKEN", "DB_PASSWORD", "SIGNING"}
    assert ":parameter/echo/api-token" in secrets["API_TOKEN"]
    assert secrets["DB_PASSWORD"] == json.dumps(f"{PARTIAL}:password::")  # ECS's secret:json-key:stage:version
    assert secrets["SIGNING"] == json.dumps(COMPLETE)


def test_only_nginx_gets_the_htpasswd_lines(configured):
    nginx = {s["Name"]: s["ValueFrom"] for s in configured.containers["nginx"]["Secrets"]}
    assert nginx == {"BASIC_AUTH_HTPASSWD": HTPASSWD}
    assert "BASIC_AUTH_HTPASSWD" not in {s["Name"] for s in configured.containers["echo"]["Secrets"]}
    assert "BASIC_AUTH_HTPASSWD" not in json.dumps(configured.containers["nginx"]["Environment"])


def test_the_execution_role_reads_exactly_those_and_decrypts_with_that_key_only(configured):
    by_service = {}
    for statement in _statements(configured):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in _list(statement["Action"]):
            by_service.setdefault(action.split(":")[0], []).extend(resources)
    ssm = [json.dumps(r) for r in by_service["ssm"]]
    assert ssm and all(":parameter/echo/api-token" in r for r in ssm)
    assert set(map(json.dumps, by_service["secretsmanager"])) == {json.dumps(f"{PARTIAL}-??????"),
                                                                  json.dumps(COMPLETE),
                                                                  json.dumps(f"{HTPASSWD}-??????")}
    assert {json.dumps(r) for r in by_service["kms"]} == {json.dumps(KEY)}
    # Only ecr:GetAuthorizationToken, which has no resource-level permissions, stands on "*".
    assert [s["Action"] for s in _statements(configured) if s["Resource"] == "*"] == ["ecr:GetAuthorizationToken"]


def test_without_a_key_the_role_may_decrypt_nothing(tmp_path):
    synth = synthesize("dev", tmp_path, secrets="API_TOKEN=/echo/api-token")
    actions = {a for s in _statements(synth) for a in _list(s["Action"])}
    assert not {a for a in actions if a.startswith("kms:")}
    assert "ssm:GetParameters" in actions


def test_by_default_there_are_no_secrets_and_no_read_rights(built_images):
    assert "Secrets" not in built_images.containers["echo"]
    assert "Secrets" not in built_images.containers["nginx"]
    actions = {a for s in _statements(built_images) for a in _list(s["Action"])}
    assert not {a for a in actions if a.startswith(("ssm:", "secretsmanager:", "kms:"))}


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_cdk_nag_passes_with_secrets(configured):
    (report,) = [r for r in configured.validation_report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert report["violations"] == []


def test_the_stack_says_where_the_logins_live_for_make_verify(configured):
    outputs = configured.template().find_outputs("*")
    assert outputs["BasicAuthSecret"]["Value"] == HTPASSWD  # the secret's ARN: a name, not its value


def test_a_change_of_any_of_them_redeploys_the_service(configured):
    rules = configured.template().find_resources("AWS::Events::Rule")
    patterns = json.dumps([rule["Properties"]["EventPattern"] for rule in rules.values()])
    for named in ("parameter/echo/api-token", COMPLETE, f"{PARTIAL}-", f"{HTPASSWD}-", '"staging/htpasswd"'):
        assert named in patterns, named
    (machine,) = configured.template().find_resources("AWS::StepFunctions::StateMachine").values()
    assert "ecs:updateService" in json.dumps(machine["Properties"]["DefinitionString"])


def test_redeploy_on_secret_change_false_builds_no_rule(tmp_path):
    synth = synthesize("dev", tmp_path, secrets="API_TOKEN=/echo/api-token", redeploy_on_secret_change="false")
    assert synth.template().find_resources("AWS::Events::Rule") == {}
    assert synth.template().find_resources("AWS::StepFunctions::StateMachine") == {}
