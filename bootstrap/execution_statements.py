"""Where each permission goes in the execution policy: on the ARNs of rules.NAMED, on "*" for the reasons in
rules.ANY_RESOURCE_*, or under IAM's conditions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bootstrap import rules, schemas


class Unplaced(Exception):
    """An action no rule covers: a person decides, in bootstrap/rules.py."""


@dataclass(frozen=True)
class Placement:
    sid: str
    resources: tuple[str, ...]
    condition: tuple[tuple[str, str, object], ...] = ()
    reason: str = ""


def _camel(service: str) -> str:
    return "".join(part.capitalize() for part in service.split("-"))


def _condition(operator: str, key: str, value: object) -> tuple[tuple[str, str, object], ...]:
    return ((operator, key, tuple(value) if isinstance(value, list) else value),)


IN_REGION = _condition("StringEquals", "aws:RequestedRegion", rules.R)
ROLE = rules.NAMED["iam"]["role"]


def _iam(action: str, types: list[str]) -> Placement:
    if action == "iam:PassRole":
        return Placement("IamPassAppRoles", (ROLE,), _condition("StringEquals", "iam:PassedToService",
                                                                rules.PASS_ROLE_TO))
    if action == "iam:CreateServiceLinkedRole":
        return Placement("IamServiceLinkedRoles", (f"arn:{rules.P}:iam::{rules.A}:role/aws-service-role/*",),
                         _condition("StringEquals", "iam:AWSServiceName", rules.SERVICE_LINKED_ROLES_FOR))
    if action in rules.BOUNDED_ROLE_ACTIONS:
        return Placement("IamRolesWithBoundary", (ROLE,), _condition("StringEquals", "iam:PermissionsBoundary",
                                                                     rules.ROLE_BOUNDARY_ARN))
    arns = tuple(sorted({rules.NAMED["iam"][t] for t in types if t in rules.NAMED["iam"]}))
    if not arns:
        raise Unplaced(f"{action}: an IAM action on {types}, none of them named in rules.NAMED['iam']")
    return Placement("IamAppResources", arns)


def _any(service: str, reason: str) -> Placement:
    condition = () if service in rules.GLOBAL_SERVICES else IN_REGION
    return Placement(f"{_camel(service)}AnyResource", ("*",), condition, reason)


def place(action: str) -> Placement | None:
    """None: dropped, for the reason in rules.UNKNOWN_ACTIONS or rules.DENIED_ACTIONS."""
    if action in rules.UNKNOWN_ACTIONS or action in rules.DENIED_ACTIONS:
        return None
    service, name = action.split(":", 1)
    types = schemas.action_resource_types(action)
    if types is None:
        raise Unplaced(f"{action}: not in cfn-lint's IAM catalogue; if it is not an IAM action, add it to "
                       "rules.UNKNOWN_ACTIONS with the action that authorizes the call")
    if service == "iam":
        return _iam(action, types)
    if service in rules.ANY_RESOURCE_SERVICES:
        return _any(service, rules.ANY_RESOURCE_SERVICES[service])
    if service not in rules.NAMED:
        raise Unplaced(f"{action}: service {service} is in neither rules.NAMED nor rules.ANY_RESOURCE_SERVICES")
    if action in rules.ANY_RESOURCE_ACTIONS:
        return _any(service, rules.ANY_RESOURCE_ACTIONS[action])
    if not types:
        return _any(service, "accepts no resource ARN (cfn-lint's IAM catalogue)")
    if name.startswith(rules.READ_ANY) and service not in rules.READ_NAMED_SERVICES:
        return _any(service, rules.READ_ANY_REASON)
    named = [rules.NAMED[service][t] for t in types if t in rules.NAMED[service]]
    arns = tuple(sorted({arn for entry in named for arn in ((entry,) if isinstance(entry, str) else entry)}))
    if not arns:
        raise Unplaced(f"{action}: acts on {types}, none of them named in rules.NAMED[{service!r}]")
    condition = _condition("StringEquals", "aws:ResourceTag/project", "echo-fargate") if service == "kms" else ()
    return Placement(f"{_camel(service)}AppResources", arns, condition)


def _render_condition(condition: tuple) -> dict:
    rendered: dict = {}
    for operator, key, value in condition:
        rendered.setdefault(operator, {})[key] = list(value) if isinstance(value, tuple) else value
    return rendered


def statements(actions: set[str]) -> tuple[list[dict], dict[str, str]]:
    """Allow statements, one per placement, and the reason of each statement on "*"."""
    grouped: dict[Placement, set[str]] = defaultdict(set)
    reasons: dict[str, set[str]] = defaultdict(set)
    for action in actions:
        placement = place(action)
        if placement is None:
            continue
        key = Placement(placement.sid, placement.resources, placement.condition)
        grouped[key].add(action)
        if placement.reason:
            reasons[placement.sid].add(placement.reason)
    result, seen = [], defaultdict(int)
    for placement in sorted(grouped, key=lambda p: (p.sid, p.resources)):
        seen[placement.sid] += 1  # Sids are unique within a policy: the second of a name gets a number
        sid = placement.sid if seen[placement.sid] == 1 else f"{placement.sid}{seen[placement.sid]}"
        statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(grouped[placement]),
                     "Resource": list(placement.resources) if len(placement.resources) > 1
                     else placement.resources[0]}
        if placement.condition:
            statement["Condition"] = _render_condition(placement.condition)
        result.append(statement)
    return result, {sid: "; ".join(sorted(why)) for sid, why in sorted(reasons.items())}
