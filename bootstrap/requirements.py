"""What the templates ask of CloudFormation: per resource type, the permissions its handlers list, less the
ones a handler needs only for a feature the resource does not use (rules.NOT_NEEDED)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bootstrap import rules, schemas

SKIPPED_TYPES = {"AWS::CDK::Metadata": "CDK's analytics marker, which CloudFormation does not create"}
# Custom resources run code (a Lambda function) with permissions of their own, worked out by hand. For each,
# CloudFormation itself only invokes the handler (with the execution role, as for every other call it makes).
KNOWN_CUSTOM_TYPES: dict[str, set[str]] = {
    # CDK's restrict_default_security_group: its handler's own role revokes the default group's rules.
    "Custom::VpcRestrictDefaultSG": {"lambda:InvokeFunction"},
}


class UnknownResourceType(Exception):
    pass


def permissions_of(resource: dict, resources: dict) -> set[str]:
    resource_type = resource["Type"]
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        if resource_type not in KNOWN_CUSTOM_TYPES:
            raise UnknownResourceType(f"{resource_type}: a custom resource; add its permissions to "
                                      "bootstrap/requirements.py KNOWN_CUSTOM_TYPES")
        return set(KNOWN_CUSTOM_TYPES[resource_type])
    try:
        permissions = schemas.handler_permissions(resource_type)
    except KeyError as error:
        raise UnknownResourceType(str(error)) from None
    properties = resource.get("Properties", {})
    for rule in rules.NOT_NEEDED:
        if rule.resource_type == resource_type and rule.unused(properties, resources):
            permissions -= rule.actions
    return permissions


def required(templates: Iterable[dict]) -> dict[str, set[str]]:
    """Resource type -> every permission some resource of that type needs, over all templates."""
    needed: dict[str, set[str]] = defaultdict(set)
    for template in templates:
        resources = template.get("Resources", {})
        for resource in resources.values():
            if resource["Type"] in SKIPPED_TYPES:
                continue
            needed[resource["Type"]] |= permissions_of(resource, resources)
    return dict(needed)
