"""The task's secrets, read the way the ECS agent reads them at each task start, and kept in the local AWS.

Every container of the synthesized task definition may carry `Secrets: [{Name, ValueFrom}]`: ValueFrom is an
SSM parameter (its ARN, or its name) or a Secrets Manager secret ARN in ECS's form
`arn:...:secret:NAME[-SUFFIX][:json-key[:version-stage[:version-id]]]`. The local task gets each value from
the AWS that AWS_ENDPOINT_URL names (make local's moto server), JSON keys applied, as ECS does. `make run`
has no local AWS: its values come straight from .env.local and no AWS is ever called.

.env.local (git-ignored) is the local source of truth: a dotenv file whose keys are the containers' variable
names (API_TOKEN=..., BASIC_AUTH_HTPASSWD="alice:$apr1$...\\nbob:..."), read with python-dotenv, no
`${...}` interpolation. `sync` writes it into the local AWS under the names and ARNs the template reads:

    AWS_ENDPOINT_URL=http://localhost:4566 .venv/bin/python -m local.secrets sync \\
        --template cdk.out/echo-fargate-dev.template.json --env-file .env.local

Values are never printed, logged or put in an exception: only variable names, containers and sources.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = ROOT / ".env.local"
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN (as settings/app_config.py
# reads a complete ARN: a name that ends so is taken for NAME-SUFFIX).
_RANDOM_SUFFIX = re.compile(r"(?P<name>.+)-(?P<suffix>[A-Za-z0-9]{6})")
_SECRET_ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]*):(?P<account>[^:]*):"
                         r"secret:(?P<name>[^:]+)(?::(?P<key>[^:]*)(?::(?P<stage>[^:]*)(?::(?P<version>[^:]*))?)?)?")
_SSM_ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):ssm:(?P<region>[a-z0-9-]*):(?P<account>[^:]*):"
                      r"parameter(?P<name>/.+)")
_NOT_FOUND = {"ParameterNotFound", "ResourceNotFoundException", "ParameterVersionNotFound"}
_REAL_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# moto's way to choose the generated part of an id (moto/utilities/id_generator.py): a secret created with this
# tag gets NAME-<its value> as its ARN, so the template's complete ARN resolves in the local AWS.
MOTO_CUSTOM_ID_TAG = "_custom_id_"


class SecretsError(Exception):
    """A secret cannot be read or written; the message names variables and sources, never a value."""


@dataclass(frozen=True)
class SecretRef:
    """One `Secrets` entry of one container, its ValueFrom resolved to a string."""

    container: str
    variable: str
    value_from: str
    kind: str  # "ssm" or "secretsmanager"
    source: str  # SSM: the parameter name; Secrets Manager: the ARN up to the name (and its suffix)
    region: str | None = None  # the ARN's; None: the local AWS's
    account: str | None = None
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None
    secret_name: str | None = None  # Secrets Manager: the NAME part (without a random suffix)
    suffix: str | None = None  # Secrets Manager: the random suffix of a complete ARN

    def describe(self, *, key: bool = True) -> str:
        """'SSM parameter /echo/api-token', 'Secrets Manager secret ARN (JSON key password)'; key=False: the
        secret (or its version) alone, as several variables may read its keys."""
        if self.kind == "ssm":
            return f"SSM parameter {self.source}"
        text = f"Secrets Manager secret {self.source}"
        details = [f"JSON key {self.json_key}"] if self.json_key and key else []
        details += [f"version stage {self.version_stage}"] if self.version_stage else []
        details += [f"version id {self.version_id}"] if self.version_id else []
        return text + (f" ({', '.join(details)})" if details else "")

    @property
    def label(self) -> str:
        return f"{self.variable} (container {self.container})"


def parse_value_from(container: str, variable: str, value_from: str) -> SecretRef:
    """A SecretRef for an already resolved ValueFrom: an SSM ARN or name, or a Secrets Manager ARN."""
    if match := _SECRET_ARN.fullmatch(value_from):
        name = match["name"]
        complete = _RANDOM_SUFFIX.fullmatch(name)
        arn = value_from.split(":secret:", 1)[0] + ":secret:" + name
        return SecretRef(container, variable, value_from, "secretsmanager", arn, match["region"] or None,
                         match["account"] or None, match["key"] or None, match["stage"] or None,
                         match["version"] or None, complete["name"] if complete else name,
                         complete["suffix"] if complete else None)
    if value_from.startswith("arn:"):
        if match := _SSM_ARN.fullmatch(value_from):
            rest = match["name"][1:]
            # ARNs spell /echo/api-token as parameter/echo/api-token, and a plain name p as parameter/p.
            name = f"/{rest}" if "/" in rest else rest
            return SecretRef(container, variable, value_from, "ssm", name, match["region"] or None,
                             match["account"] or None)
        raise SecretsError(f"{variable} (container {container}): ValueFrom is neither an SSM parameter nor a "
                           f"Secrets Manager secret ARN: {value_from}")
    return SecretRef(container, variable, value_from, "ssm", value_from)


# --- the template -------------------------------------------------------------------------------------------------


@dataclass
class Pseudo:
    """The pseudo parameters of the AWS being talked to; the account is asked for only when a template needs it."""

    region: str
    account: Callable[[], str] | str

    def value(self, name: str) -> str:
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            if callable(self.account):
                self.account = self.account()
            return self.account
        if name == "AWS::Partition":
            return partition_of(self.region)
        if name == "AWS::URLSuffix":
            return "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        raise SecretsError(f"cannot resolve Ref {name}")


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


_SUB = re.compile(r"\$\{(!?)([^}]*)\}")


def resolve(value: object, pseudo: Pseudo) -> str:
    """A ValueFrom with its intrinsics (Fn::Join, Fn::Sub, Ref of a pseudo parameter) resolved."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return pseudo.value(argument)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, parts = argument
            return str(separator).join(resolve(part, pseudo) for part in parts)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument

            def substitute(match: re.Match) -> str:
                if match[1]:  # ${!Literal} stands for ${Literal}
                    return "${" + match[2] + "}"
                if match[2] in variables:
                    return resolve(variables[match[2]], pseudo)
                return pseudo.value(match[2])

            return _SUB.sub(substitute, text)
    raise SecretsError(f"cannot resolve {json.dumps(value)}: only Fn::Join, Fn::Sub and Ref of AWS::Partition, "
                       "AWS::Region, AWS::AccountId and AWS::URLSuffix")


def container_definitions(template: Path) -> list[dict]:
    """The ContainerDefinitions of the one task definition in a synthesized template (local.task's too)."""
    resources = json.loads(Path(template).read_text())["Resources"]
    tasks = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    if len(tasks) != 1:
        raise SecretsError(f"{template}: expected one task definition, found {len(tasks)}")
    return tasks[0]["Properties"]["ContainerDefinitions"]


def secret_names(template: Path) -> dict[str, list[str]]:
    """Container -> the names of its secret variables (only containers that have any); no AWS is called."""
    return {c["Name"]: [s["Name"] for s in c["Secrets"]] for c in container_definitions(template) if c.get("Secrets")}


def secret_refs(template: Path, pseudo: Pseudo) -> list[SecretRef]:
    """Every secret of every container of the template's task definition, in template order."""
    refs = []
    for container in container_definitions(template):
        for secret in container.get("Secrets", []):
            try:
                value_from = resolve(secret["ValueFrom"], pseudo)
            except SecretsError as error:
                raise SecretsError(f"{secret['Name']} (container {container['Name']}): {error}") from None
            refs.append(parse_value_from(container["Name"], secret["Name"], value_from))
    return refs


# --- the AWS ------------------------------------------------------------------------------------------------------


def local_endpoint() -> str:
    """AWS_ENDPOINT_URL, refused when missing or when it names a real AWS endpoint."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not endpoint:
        raise SecretsError("AWS_ENDPOINT_URL is not set: secrets are only ever written to the local AWS "
                           "(make local sets it), never to a real account")
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    if host.endswith(_REAL_AWS_HOSTS) or host in {h.lstrip(".") for h in _REAL_AWS_HOSTS}:
        raise SecretsError(f"AWS_ENDPOINT_URL ({endpoint}) is a real AWS endpoint: only the local AWS is used")
    return endpoint


class LocalAws:
    """Clients of the local AWS, per service and region, always at the endpoint given (a service's own
    AWS_ENDPOINT_URL_* can never send them elsewhere)."""

    def __init__(self, endpoint: str) -> None:
        import boto3  # only here: without a local AWS nothing of boto3 is even loaded

        self.endpoint = endpoint
        self.session = boto3.Session()
        self.region = os.environ.get("AWS_REGION") or self.session.region_name
        if not self.region:
            raise SecretsError("no region: set AWS_REGION (make local sets it)")
        self._clients: dict[tuple[str, str], object] = {}

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self._new_client(*key)
        return self._clients[key]

    def _new_client(self, service: str, region: str):
        return self.session.client(service, region_name=region, endpoint_url=self.endpoint)

    def pseudo(self) -> Pseudo:
        return Pseudo(self.region, lambda: self.client("sts").get_caller_identity()["Account"])

    # Reading, as the ECS agent does. None: no such parameter, secret or version.

    def read(self, ref: SecretRef) -> str | None:
        raw = self.read_source(ref)
        return None if raw is None else apply_json_key(ref, raw)

    def read_source(self, ref: SecretRef) -> str | None:
        from botocore.exceptions import ClientError

        try:
            if ref.kind == "ssm":
                response = self.client("ssm", ref.region).get_parameter(Name=ref.value_from, WithDecryption=True)
                return response["Parameter"]["Value"]
            options = {"VersionStage": ref.version_stage} if ref.version_stage else {}
            options.update({"VersionId": ref.version_id} if ref.version_id else {})
            response = self.client("secretsmanager", ref.region).get_secret_value(SecretId=ref.source, **options)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND:
                return None
            raise SecretsError(f"{ref.label}: reading {ref.describe()} failed: {code or error}") from None
        if "SecretString" not in response:
            raise SecretsError(f"{ref.label}: {ref.describe()} holds a binary value; ECS passes only strings")
        return response["SecretString"]


def apply_json_key(ref: SecretRef, raw: str) -> str:
    """The value ECS gives the container: the whole secret, or the JSON key's value (text as is, other JSON
    values as JSON)."""
    if not ref.json_key:
        return raw
    document = _json_object(ref, raw)
    if ref.json_key not in document:
        raise SecretsError(f"{ref.label}: {ref.describe()} has no key {ref.json_key}")
    value = document[ref.json_key]
    return value if isinstance(value, str) else json.dumps(value)


def _json_object(ref: SecretRef, raw: str) -> dict:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None  # never the decoder's message: it may quote the text
    if not isinstance(document, dict):
        raise SecretsError(f"{ref.label}: {ref.describe()} is not a JSON object, so it has no key {ref.json_key}")
    return document


# --- .env.local ---------------------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str | None]:
    """The file's variables (python-dotenv, no interpolation: htpasswd hashes contain `$`); {} when it is absent.
    A key without `=` has the value None: it counts as not set."""
    path = Path(path)
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(path, interpolate=False))


def _env_value(env: Mapping[str, str | None], ref: SecretRef) -> str | None:
    value = env.get(ref.variable)
    return value if value else None  # empty: not set (SSM and Secrets Manager keep no empty value)


def _line_to_add(ref: SecretRef) -> str:
    return f"{ref.variable}=..."


def missing_message(missing: Iterable[SecretRef], env_file: Path, where: str,
                    then: str = "then run make local again") -> str:
    missing = list(missing)
    lines = [f"{len(missing)} secret variable(s) have no value {where}; add each line to {env_file} ({then}):"]
    lines += [f"  {ref.label} from {ref.describe()}: {_line_to_add(ref)}" for ref in missing]
    return "\n".join(lines)


# --- at each task start -------------------------------------------------------------------------------------------


def resolve_task_secrets(template: Path, env_file: Path = DEFAULT_ENV_FILE) -> dict[str, dict[str, str]]:
    """Container -> {variable: value} for every container with secrets. With AWS_ENDPOINT_URL: from the local
    AWS, as the ECS agent reads them at task start. Without (make run): from `env_file`, and no AWS is called.
    A template without secrets: {} and nothing else is read."""
    names = secret_names(template)
    if not names:
        return {}
    if os.environ.get("AWS_ENDPOINT_URL"):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            aws = LocalAws(local_endpoint())
            refs = secret_refs(template, aws.pseudo())
            values, missing = {}, []
            for ref in refs:
                value = aws.read(ref)
                if value is None:
                    missing.append(ref)
                else:
                    values.setdefault(ref.container, {})[ref.variable] = value
        except ClientError as error:  # STS: the code only
            raise SecretsError(f"the local AWS refused: {error.response.get('Error', {}).get('Code')}") from None
        except BotoCoreError as error:  # no endpoint, no credentials
            raise SecretsError(f"the local AWS: {type(error).__name__}: {_no_values(error)}") from None
        if missing:
            raise SecretsError(missing_message(missing, env_file, f"in the local AWS ({aws.endpoint})",
                                               "then make local, which syncs it into the local AWS"))
        return values
    env = read_env_file(env_file)
    # No AWS: the sources are only named in messages, their account unknown (no STS call).
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "REGION"
    refs = secret_refs(template, Pseudo(region, "ACCOUNT"))
    missing = [ref for ref in refs if _env_value(env, ref) is None]
    if missing:
        raise SecretsError(missing_message(missing, env_file, f"in {env_file}", "make run reads them from there"))
    values: dict[str, dict[str, str]] = {}
    for ref in refs:
        values.setdefault(ref.container, {})[ref.variable] = env[ref.variable]
    return values


# --- sync ---------------------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """The refs that read one parameter, or one version of one secret."""

    refs: list[SecretRef] = field(default_factory=list)

    @property
    def first(self) -> SecretRef:
        return self.refs[0]

    @property
    def variables(self) -> str:
        return ", ".join(dict.fromkeys(ref.label for ref in self.refs))


def _group(refs: Iterable[SecretRef], aws: LocalAws) -> dict[tuple, _Source]:
    sources: dict[tuple, _Source] = {}
    for ref in refs:
        region = ref.region or aws.region
        if ref.kind == "ssm":
            key = ("ssm", region, ref.source)
        else:
            key = ("secretsmanager", region, ref.source, ref.version_stage, ref.version_id)
        sources.setdefault(key, _Source()).refs.append(ref)
    return sources


def _one_value(source: _Source, env: Mapping[str, str | None], refs: list[SecretRef]) -> str | None:
    values = {_env_value(env, ref) for ref in refs} - {None}
    if len(values) > 1:
        raise SecretsError(f"{', '.join(ref.variable for ref in refs)} read the same "
                           f"{source.first.describe(key=False)} but the env file gives them different values")
    return values.pop() if values else None


def _sync_ssm(aws: LocalAws, source: _Source, env, current: str | None) -> tuple[str, list[SecretRef]]:
    ref = source.first
    desired = _one_value(source, env, source.refs)
    if desired is None:
        return ("unchanged (not in the env file: the local AWS's value is kept)" if current is not None
                else "missing"), ([] if current is not None else source.refs)
    if desired == current:
        return "unchanged", []
    ssm = aws.client("ssm", ref.region)
    if current is None:
        ssm.put_parameter(Name=ref.source, Value=desired, Type="SecureString")
        return "created", []
    ssm.put_parameter(Name=ref.source, Value=desired, Overwrite=True)  # keeps the parameter's type
    return "updated", []


def _sync_secret(aws: LocalAws, source: _Source, env, current: str | None) -> tuple[str, list[SecretRef]]:
    ref = source.first
    whole = [r for r in source.refs if not r.json_key]
    keyed = [r for r in source.refs if r.json_key]
    desired = _one_value(source, env, whole) if whole else None
    base = desired if desired is not None else current
    missing = [r for r in whole if desired is None and current is None]
    if keyed:
        # A JSON object built from every variable that reads a key of this secret, merged into what is there.
        document = _json_object(keyed[0], base) if base is not None else {}
        merged = dict(document)
        for r in keyed:
            value = _env_value(env, r)
            if value is not None:
                merged[r.json_key] = value
            elif r.json_key not in merged:
                missing.append(r)
        if desired is not None and merged != document:
            raise SecretsError(f"{', '.join(r.variable for r in source.refs)} read the same {ref.describe(key=False)}: "
                               "the whole secret's variable and the JSON keys' variables disagree")
        # An unchanged object stays as it is written: no rewrite in another formatting.
        desired = json.dumps(merged) if merged != document or base is None else base
    if missing:
        return "missing", missing
    if desired is None or desired == current:
        return ("unchanged" if desired is not None else
                "unchanged (not in the env file: the local AWS's value is kept)"), []
    if ref.version_id:
        raise SecretsError(f"{source.variables}: {ref.describe(key=False)} is pinned to a version id, which sync "
                           "cannot write; create that version in the local AWS or drop the version id")
    client = aws.client("secretsmanager", ref.region)
    stages = {"VersionStages": [ref.version_stage]} if ref.version_stage and ref.version_stage != "AWSCURRENT" else {}
    if current is None and not _secret_exists(client, ref):
        tags = [{"Key": MOTO_CUSTOM_ID_TAG, "Value": ref.suffix}] if ref.suffix else []
        from botocore.exceptions import ClientError

        try:
            created = client.create_secret(Name=ref.secret_name, SecretString=desired, Tags=tags)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            raise SecretsError(f"{source.variables}: the local AWS has a secret named {ref.secret_name} under another "
                               f"ARN than {ref.source} (another random suffix): delete it there "
                               "(aws secretsmanager delete-secret --force-delete-without-recovery), then sync again"
                               ) from None
        if created["ARN"] != ref.source and ref.suffix:
            client.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)
            raise SecretsError(f"{source.variables}: the local AWS named the new secret {created['ARN']}, not "
                               f"{ref.source} (another account or region?); removed it again")
        if stages:
            client.put_secret_value(SecretId=created["ARN"], SecretString=desired, **stages)
        return "created", []
    client.put_secret_value(SecretId=ref.source, SecretString=desired, **stages)
    return ("created" if current is None else "updated"), []


def _secret_exists(client, ref: SecretRef) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.describe_secret(SecretId=ref.source)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def sync(template: Path, env_file: Path, out=None) -> int:
    """Writes `env_file`'s values into the local AWS under the template's names; 0, or 1 with the reasons."""
    out = out or sys.stdout
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        aws = LocalAws(local_endpoint())
        refs = secret_refs(template, aws.pseudo())
        if not refs:
            print(f"{template}: no container has secrets; nothing to sync", file=out)
            return 0
        env = read_env_file(env_file)
        missing: list[SecretRef] = []
        for source in _group(refs, aws).values():
            ref = source.first
            current = aws.read_source(ref)
            action = _sync_ssm if ref.kind == "ssm" else _sync_secret
            try:
                result, lacking = action(aws, source, env, current)
            except ClientError as error:  # the code only: a write's message could quote what was sent
                code = error.response.get("Error", {}).get("Code", "error")
                raise SecretsError(f"{source.variables}: writing {ref.describe(key=False)} failed: {code}") from None
            missing += lacking
            if not lacking:
                print(f"{ref.describe(key=False)} <- {source.variables}: {result}", file=out)
    except SecretsError as error:
        print(f"make local: secrets: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, OSError, ValueError, KeyError) as error:
        print(f"make local: secrets: {type(error).__name__}: {_no_values(error)}", file=sys.stderr)
        return 1
    if missing:
        print(f"make local: secrets: {missing_message(missing, env_file, 'in the local AWS nor in ' + str(env_file))}",
              file=sys.stderr)
        return 1
    return 0


def _no_values(error: Exception) -> str:
    """The error's message, unless it could quote a value: a decoder's, or botocore's parameter validation (which
    quotes what was sent). Connection and configuration faults name only endpoints and files."""
    from botocore.exceptions import ParamValidationError

    return "(details not shown)" if isinstance(error, ValueError | ParamValidationError) else str(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.secrets", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("sync", help="write the env file's secrets into the local AWS (AWS_ENDPOINT_URL)")
    command.add_argument("--template", type=Path, required=True, help="synthesized stack template (cdk.out)")
    command.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help="default: .env.local")
    args = parser.parse_args(argv)
    return sync(args.template, args.env_file)


if __name__ == "__main__":
    sys.exit(main())
