"""The echo container's own configuration: plain variables (`echo_environment`) and secrets (`secrets`).

The echo container stands for the team's application. Its variables are checked here, before any construct
is built: names must be variable names and must not be ones the task or the image sets itself; a plain value
that looks like a credential is refused (it belongs in `secrets`, which ECS reads from SSM Parameter Store or
Secrets Manager when a task starts, so the value is never in the template).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# What the task definition, the image or ECS itself sets in the echo container.
RESERVED_NAMES = frozenset({"PORT", "HOST", "BACKEND_HOST", "SHUTDOWN_TIMEOUT", "KEEP_ALIVE_TIMEOUT",
                            "ECHO_MAX_DELAY_MS", "PATH", "HOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})
RESERVED_PREFIXES = ("AWS_", "ECS_")
_CREDENTIALS = (
    (re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)
# SSM parameter names: letters, digits and _.-/ (a leading / for a hierarchy), at most 1011 characters.
_SSM_NAME = re.compile(r"/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_SECRET_ARN = re.compile(
    r"(?P<arn>arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):secret:"
    r"(?P<name>[A-Za-z0-9/_+=.@-]+?))(?::(?P<key>[^:]*))?"
)
# Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
_RANDOM_SUFFIX = re.compile(r".+-[A-Za-z0-9]{6}")
_JSON_KEY = re.compile(r"[A-Za-z0-9_.@-]{1,256}")


@dataclass(frozen=True)
class SecretSource:
    """Where one variable's value comes from at task start."""

    kind: str  # "ssm" or "secretsmanager"
    name: str  # the SSM parameter name, or the secret's ARN without the JSON key
    json_key: str | None = None
    complete_arn: bool = False  # a Secrets Manager ARN with its random suffix


def parse_mapping(value: object, what: str) -> object:
    """`-c NAME=VALUE,NAME=VALUE` arrives as one string; cdk.json gives a mapping. A name given twice is an
    error, not "the last one wins"."""
    if not isinstance(value, str):
        return value
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        name, equals, text = item.partition("=")
        if not equals:
            raise ValueError(f"'{item}' is not NAME=VALUE ({what} on the command line: NAME=VALUE,NAME=VALUE)")
        if name in mapping:
            raise ValueError(f"names {name} twice")
        mapping[name] = text
    return mapping


def check_names(names: Mapping[str, object]) -> None:
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not an environment variable name (letters, digits, '_'; not a digit "
                             "first)")
        if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{name} is set by the task, the image or ECS itself")


def check_environment(environment: Mapping[str, str]) -> Mapping[str, str]:
    check_names(environment)
    for name, value in environment.items():
        for pattern, what in _CREDENTIALS:
            if pattern.search(value):
                raise ValueError(f"{name} looks like {what}: a credential belongs in `secrets` (SSM or Secrets "
                                 "Manager), not in the task definition")
    return environment


def parse_source(source: str) -> SecretSource:
    if source.startswith("arn:"):
        match = _SECRET_ARN.fullmatch(source)
        if not match:
            raise ValueError(f"'{source}' is not a Secrets Manager secret ARN "
                             "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[-AbCdEf][:json-key])")
        key = match["key"]
        if key is not None and not _JSON_KEY.fullmatch(key):
            raise ValueError(f"'{source}': the JSON key '{key}' must be 1-256 letters, digits or _.@-")
        return SecretSource("secretsmanager", match["arn"], key, bool(_RANDOM_SUFFIX.fullmatch(match["name"])))
    if len(source) > 1011 or not _SSM_NAME.fullmatch(source):
        raise ValueError(f"'{source}' is neither an SSM parameter name such as /echo/api-token nor a Secrets "
                         "Manager secret ARN")
    return SecretSource("ssm", source)


def check_secrets(secrets: Mapping[str, str]) -> Mapping[str, str]:
    check_names(secrets)
    for source in secrets.values():
        parse_source(source)
    return secrets
