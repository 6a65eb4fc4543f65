"""The settings a CDK command line selects, for the tools that run the CDK CLI (local.cdk, operate.deploy_fast):
cdk.json's context, the lookups cached in cdk.context.json, then the command's `-c KEY=VALUE` arguments, the
same layers the CLI hands the app. Validated by the app's own loader, without synthesizing anything."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from settings.loader import load_settings
from settings.model import Settings

ROOT = Path(__file__).resolve().parents[1]


def context_arguments(args: list[str]) -> dict[str, str]:
    """The -c/--context KEY=VALUE pairs of a cdk command line."""
    context, items = {}, iter(args)
    for arg in items:
        if arg in ("-c", "--context"):
            value = next(items, "")
        elif arg.startswith("--context="):
            value = arg.split("=", 1)[1]
        else:
            continue
        key, _, value = value.partition("=")
        context[key] = value
    return context


def settings_for(args: list[str], root: Path = ROOT) -> Settings:
    """The validated settings of `cdk ... args` run in `root`; raises SettingsError as the app would."""
    context = json.loads((root / "cdk.json").read_text()).get("context", {})
    cached = root / "cdk.context.json"
    if cached.exists():
        with contextlib.suppress(OSError, ValueError):  # a broken cache: the CLI reports it itself
            context = {**context, **json.loads(cached.read_text())}
    return load_settings({**context, **context_arguments(args)})
