"""What cfn-lint ships about AWS: the CloudFormation resource schemas (the IAM permissions each resource type's
handlers call) and its catalogue of IAM actions (the resource types each action can be limited to)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cfnlint
from cfnlint.version import __version__ as cfn_lint_version

DATA = Path(cfnlint.__file__).parent / "data"
# us-east-1 has every resource type these stacks use, and is where new ones arrive first.
SCHEMA_REGION = "us-east-1"
HANDLERS = ("create", "read", "update", "delete")


@cache
def _providers(region: str = SCHEMA_REGION) -> dict[str, str]:
    return json.loads((DATA / "schemas" / "providers" / f"{region}.json").read_text())


def regions() -> list[str]:
    return sorted(path.stem for path in (DATA / "schemas" / "providers").glob("*.json"))


@cache
def resource_schema(resource_type: str) -> dict:
    try:
        digest = _providers()[resource_type]
    except KeyError:
        raise KeyError(f"{resource_type}: cfn-lint {cfn_lint_version} has no schema for it") from None
    return json.loads((DATA / "schemas" / "resources" / f"{digest}.json").read_text())


def handler_permissions(resource_type: str) -> set[str]:
    """The union of the permissions the create, read, update and delete handlers list (list is never called
    by a stack operation)."""
    handlers = resource_schema(resource_type).get("handlers", {})
    return {action for name in HANDLERS for action in handlers.get(name, {}).get("permissions", [])}


@cache
def _catalogue() -> dict:
    return json.loads((DATA / "AdditionalSpecs" / "Policies.json").read_text())


def action_resource_types(action: str) -> list[str] | None:
    """The resource types an action can be limited to ([] when it supports none, so only "*"), or None when
    the catalogue does not know the action."""
    service, name = action.split(":", 1)
    entry = _catalogue().get(service, {}).get("Actions", {}).get(name.lower())
    return None if entry is None else list(entry.get("Resources", []))
