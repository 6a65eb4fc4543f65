"""Reading a synthesized CloudFormation template: its resources by type, the numbers and references in them, and
the few words the cost lines are written with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Template = Mapping[str, Any]
# Elastic Load Balancing's defaults when the template leaves them out: 30 s x 5 checks, 300 s drain.
ELB_DEFAULT_INTERVAL, ELB_DEFAULT_HEALTHY_THRESHOLD, ELB_DEFAULT_DEREGISTRATION_DELAY = 30, 5, 300
# When a list of subnets cannot be counted in the template (an import, a parameter), assume this many AZs.
ASSUMED_AZS = 2


class TemplateError(ValueError):
    """The template holds something the report cannot read (e.g. a number given as an intrinsic function)."""


# --------------------------------------------------------------------------------------------- template access

def resources(template: Template, resource_type: str) -> list[tuple[str, dict]]:
    """(logical id, Properties) of every resource of one type."""
    return [
        (logical_id, resource.get("Properties") or {})
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    ]


def ref_id(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` points at, else None."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
        if isinstance(get_att, str):
            return get_att.split(".", 1)[0]
    return None


def number(template: Template, value: Any, default: float, what: str) -> float:
    """A number from the template: absent → default; a literal or a string; a Ref to a parameter's Default."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise TemplateError(f"{what}: expected a number, found {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    parameter = (template.get("Parameters") or {}).get(ref_id(value) or "", {})
    if isinstance(value, dict) and "Ref" in value and "Default" in parameter:
        return number(template, parameter["Default"], default, what)
    raise TemplateError(f"{what}: cannot read a number from {value!r}")


def count(value: Any) -> int | None:
    """Length of a literal list in the template, None when it is an intrinsic (unknown until deploy)."""
    return len(value) if isinstance(value, list) else None


def attributes(properties: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {item.get("Key"): item.get("Value") for item in properties.get(key) or [] if isinstance(item, dict)}


def n(value: float) -> str:
    """1 → '1', 0.5 → '0.5', 1.3333 → '1.33', 0.004 → '0.004' (three significant digits below 0.01)."""
    if value == int(value):
        return str(int(value))
    text = f"{value:.2f}" if abs(value) >= 0.01 else f"{value:.3g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def plural(amount: float, word: str, plural_form: str | None = None) -> str:
    return f"{n(amount)} {word if amount == 1 else plural_form or word + 's'}"


def load_balancer_subnets(properties: Mapping[str, Any]) -> int | None:
    """A load balancer's subnets (one node each), None when the template does not list them."""
    return count(properties.get("Subnets")) if "Subnets" in properties else count(properties.get("SubnetMappings"))
