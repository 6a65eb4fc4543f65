"""Every resource type the templates can hold is priced by the report, named as free, or named as not estimated
with why: a new type fails here until it is classified (measure/resource_kinds.py)."""

from __future__ import annotations

import json

from bootstrap.execution_policy import OUTPUT
from measure import report
from measure.fargate_tasks import fargate_tasks
from measure.fixed_cost import fixed_cost
from measure.resource_kinds import FREE, NOT_ESTIMATED, PRICED, kinds, template_types
from measure.usage import load_usage
from tests.report_templates import resource, template


def _every_type_of_every_variant() -> list[str]:
    """bootstrap/execution-policy.json lists the types of every environment and variant (kept current by
    tests/test_bootstrap_policy.py)."""
    return json.loads(OUTPUT.read_text())["resource_types"]


def test_every_resource_type_of_every_variant_is_classified_once():
    present = kinds(_every_type_of_every_variant())
    assert present.unclassified == ()
    assert not (set(PRICED) & set(FREE)) and not (set(PRICED) & set(NOT_ESTIMATED)) \
        and not (set(FREE) & set(NOT_ESTIMATED))


def test_every_type_of_the_stock_pattern_is_classified_too(dev):
    tasks = fargate_tasks(dev.templates[dev.service_stack])[0]
    stock = report.stock_pattern_template(tasks.cpu_units, tasks.memory_mib, 1)
    assert kinds(template_types(stock)).unclassified == ()


def test_each_not_estimated_type_says_what_it_is_billed_by():
    for resource_type, why in NOT_ESTIMATED.items():
        assert "$" in why, resource_type


def test_an_unknown_type_is_reported_as_unclassified_not_silently_dropped():
    cost = fixed_cost(template(Thing=resource("AWS::Bedrock::Agent")))
    line = cost.line("Unclassified")
    assert line.dollars is None and "AWS::Bedrock::Agent" in line.quantity


def test_every_environment_prints_no_unclassified_line(dev, prod):
    profile = load_usage(None, ["dev", "prod"])
    for synth in (dev, prod):
        text, _ = report.environment_report(synth.env, synth.templates, profile.usage[synth.env])
        assert "Unclassified" not in text
