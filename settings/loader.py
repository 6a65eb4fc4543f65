"""Turns the CDK context into `Settings`: picks the environment, layers overrides, explains mistakes.

Precedence, lowest first: the defaults in `settings.model`, the environment's block in `cdk.json`
(`context.environments.<env>`), then `-c SETTING=VALUE` on the command line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from settings.errors import SettingsError
from settings.feature_flags import is_cdk_key, known_feature_flags
from settings.model import Settings

DEFAULT_ENV = "dev"
# Context keys that are not settings: the environment selector and table, CDK feature flags ("@aws-cdk/..."),
# CDK's own keys ("aws:cdk:...") and cached lookups ("vpc-provider:account=...").
_ENV_KEY, _ENVIRONMENTS_KEY = "env", "environments"
# What the CDK CLI itself may store in cdk.context.json (`cdk acknowledge`, `cdk cli-telemetry`).
# "aws-cdk:enableDiffNoFail" and "aws-cdk:isolated" are context keys the pinned CLI itself reads.
# Settings of the registry stack, which every environment of an account and region shares: a value in one
# environment's block would be undone by the next deploy of another.
SHARED_SETTINGS = ("ecr_encryption", "ecr_keep_tagged_images", "ecr_keep_releases", "docker_hub_secret_arn")
_CLI_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry", "aws-cdk:enableDiffNoFail", "aws-cdk:isolated"})


def load_settings(context: Mapping[str, Any]) -> Settings:
    environments = context.get(_ENVIRONMENTS_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise SettingsError(["cdk.json: context.environments must name at least one environment and its settings"])

    env = str(context.get(_ENV_KEY) or DEFAULT_ENV)
    if env not in environments:
        raise SettingsError([f"env={env}: unknown environment{_did_you_mean(env, environments)}; "
                             f"cdk.json defines: {', '.join(environments)}"])

    profile = environments[env] or {}
    if not isinstance(profile, Mapping):
        raise SettingsError([f"cdk.json environments.{env}: must map setting names to values, not {profile!r}"])
    overrides = {key: value for key, value in context.items() if _is_setting_key(key)}
    problems = _unknown_names(profile, f"cdk.json environments.{env}.") + _unknown_names(overrides, "-c ") \
        + _unknown_flags(context) + _shared_in_an_environment(environments)
    known = set(Settings.setting_names())
    values = {key: value for key, value in {**profile, **overrides}.items() if key in known}
    values[_ENV_KEY] = env
    settings = None
    try:
        settings = Settings(**values)
    except ValidationError as error:
        problems += _describe(error)
    if settings is not None and (unknown := [name for name in settings.ci_environments if name not in environments]):
        problems.append(f"ci_environments: {', '.join(unknown)} not in cdk.json's environments "
                        f"({', '.join(environments)})")
    if problems:  # all of them at once, so one edit fixes the command line
        raise SettingsError(problems)
    return settings


def _shared_in_an_environment(environments: Mapping[str, Any]) -> list[str]:
    return [f"cdk.json environments.{env}.{name}: the registry is shared by every environment of the account; "
            f"set {name} once, at the top of cdk.json's context (or with -c)"
            for env, profile in environments.items() if isinstance(profile, Mapping)
            for name in profile if name in SHARED_SETTINGS]


def _is_setting_key(key: str) -> bool:
    # Everything else is a setting, so that a key nobody knows (`-c foo:bar=1`) is reported, not ignored.
    return key not in (_ENV_KEY, _ENVIRONMENTS_KEY) and key not in _CLI_KEYS and not key.startswith("@") \
        and not is_cdk_key(key)


def _unknown_flags(context: Mapping[str, Any]) -> list[str]:
    known = known_feature_flags()
    return [f"{key}: unknown CDK feature flag{_did_you_mean(key, known)} (aws-cdk-lib ignores it)"
            for key in context if key.startswith("@") and key not in known]


def _unknown_names(values: Mapping[str, Any], where: str) -> list[str]:
    known = [name for name in Settings.setting_names() if name != _ENV_KEY]
    return [
        f"{where}{name}: unknown setting{_did_you_mean(name, known)}"
        for name in values
        if name not in known
    ]


def _did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        if not item["loc"]:  # a cross-setting check: its message already names the settings
            problems.extend(message.splitlines())
            continue
        name = str(item["loc"][0])
        shown = _redacted(item["input"]) if name in _VALUES_NOT_SHOWN else _show(item["input"])
        problems.append(f"{name}={shown}: {message}")
    return problems


# A refused value here may be a credential someone pasted by mistake: name the variables, never the values.
_VALUES_NOT_SHOWN = frozenset({"echo_environment"})


def _redacted(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{name}=..." for name in value)
    if isinstance(value, str):
        return ",".join(f"{part.split('=', 1)[0].strip()}=..." for part in value.split(",") if part.strip())
    return "..."


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else json.dumps(value)
    if isinstance(value, tuple):
        return ",".join(value)
    return json.dumps(value)
