"""The CloudFormation execution policy (bootstrap/execution-policy.json) covers every resource type of every
stack of every environment and variant, holds no wildcard action, fits IAM's limits and is current; the
app's roles all carry the role boundary, which allows everything their policies grant."""

from __future__ import annotations

import copy
import fnmatch
import json

import pytest

from bootstrap import requirements, rules, schemas
from bootstrap.documents import MAX_POLICIES_PER_ROLE, MAX_POLICY_CHARS, size
from bootstrap.execution_policy import OUTPUT, REGENERATE, build, render
from bootstrap.role_boundary import role_actions
from bootstrap.variants import VARIANTS, synthesize_all, templates
from stacks.permissions_boundary import role_boundary_name


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return synthesize_all(tmp_path_factory.mktemp("bootstrap-variants"))


@pytest.fixture(scope="module")
def all_templates(variants) -> list[tuple[str, str, dict]]:
    return list(templates(variants))


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(OUTPUT.read_text())


def _statements(policy: dict, effect: str = "Allow") -> list[dict]:
    return [s for entry in policy["execution_policies"] for s in entry["document"]["Statement"]
            if s["Effect"] == effect]


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def _allowed(policy: dict) -> set[str]:
    return {action for statement in _statements(policy) for action in _actions(statement)}


def _uncovered(policy: dict, all_templates) -> dict[tuple[str, str, str], set[str]]:
    """(variant, stack, resource type) -> permissions its handlers need that no Allow grants."""
    allowed, missing = _allowed(policy), {}
    for variant, stack, template in all_templates:
        resources = template["Resources"]
        for resource in resources.values():
            if resource["Type"] in requirements.SKIPPED_TYPES:
                continue
            needed = requirements.permissions_of(resource, resources) - set(rules.UNKNOWN_ACTIONS) \
                - set(rules.DENIED_ACTIONS)
            if gap := needed - allowed:
                missing.setdefault((variant, stack, resource["Type"]), set()).update(gap)
    return missing


def test_every_variant_is_synthesized(variants):
    assert set(variants) == set(VARIANTS)
    assert all(synthesized.templates for synthesized in variants.values())


def test_every_resource_type_of_every_stack_is_covered(committed, all_templates):
    missing = _uncovered(committed, all_templates)
    assert not missing, f"permissions missing from the execution policy: {missing}; run `{REGENERATE}`"


def test_removing_one_resource_types_permission_is_caught(committed, all_templates):
    mutated = copy.deepcopy(committed)
    statement = next(s for s in _statements(mutated) if "ecs:CreateService" in s["Action"])
    statement["Action"].remove("ecs:CreateService")
    assert ("prod", "echo-fargate-prod", "AWS::ECS::Service") in _uncovered(mutated, all_templates)


def test_the_committed_policy_is_current(committed, all_templates):
    generated = build([template for _, _, template in all_templates])
    assert render(generated) == OUTPUT.read_text(), f"{OUTPUT.name} is stale: run `{REGENERATE}` and commit it"


def test_dropped_schema_permissions_are_still_listed(committed):
    """No stale entry in the drop tables: each names a permission a schema of these stacks lists, and the
    unknown ones are indeed unknown to the IAM catalogue."""
    listed = set().union(*(schemas.handler_permissions(t) for t in committed["resource_types"]
                           if t not in requirements.KNOWN_CUSTOM_TYPES))
    for action in [*rules.UNKNOWN_ACTIONS, *rules.DENIED_ACTIONS]:
        assert action in listed, action
    for action in rules.UNKNOWN_ACTIONS:
        assert schemas.action_resource_types(action) is None, action
    for rule in rules.NOT_NEEDED:
        assert rule.actions <= schemas.handler_permissions(rule.resource_type), rule.resource_type


def test_no_wildcard_action(committed):
    for entry in committed["execution_policies"]:
        for statement in entry["document"]["Statement"]:
            assert "NotAction" not in statement
            for action in _actions(statement):
                assert "*" not in action and "?" not in action, action
                assert schemas.action_resource_types(action) is not None, f"{action}: not an IAM action"


def test_documents_fit_iams_limits(committed):
    documents = [entry["document"] for entry in committed["execution_policies"]]
    assert 1 <= len(documents) <= MAX_POLICIES_PER_ROLE
    for document in [*documents, committed["role_boundary"]["document"],
                     committed["execution_role_boundary"]["document"]]:
        assert size(document) <= MAX_POLICY_CHARS
    for entry in committed["execution_policies"]:
        sids = [s["Sid"] for s in entry["document"]["Statement"]]
        assert len(sids) == len(set(sids))


def test_any_resource_statements_hold_no_iam_action_and_give_a_reason(committed):
    for statement in _statements(committed):
        if statement["Resource"] == "*":
            assert not any(a.startswith("iam:") for a in _actions(statement)), statement["Sid"]
            assert committed["any_resource_reasons"].get(statement["Sid"]), statement["Sid"]
            service = statement["Sid"].removesuffix("AnyResource").lower()
            if service not in rules.GLOBAL_SERVICES:
                assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": rules.R}}


def test_iam_is_bounded_scoped_and_guarded(committed):
    boundary_arn = f"arn:{rules.P}:iam::{rules.A}:policy/{committed['role_boundary']['name']}"
    for statement in _statements(committed):
        for action in _actions(statement):
            if not action.startswith("iam:"):
                continue
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert all(r.startswith(f"arn:{rules.P}:iam::{rules.A}:") for r in resources), (action, resources)
            if action in rules.BOUNDED_ROLE_ACTIONS:
                assert statement["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}}
            if action == "iam:PassRole":
                assert resources == [rules.NAMED["iam"]["role"]] and "iam:PassedToService" in \
                    statement["Condition"]["StringEquals"]
            assert not action.startswith(("iam:CreateUser", "iam:CreateAccessKey", "iam:CreatePolicy")), action
            assert action != "iam:DeleteRolePermissionsBoundary"
    denied = {a for s in _statements(committed, "Deny") for a in _actions(s)}
    assert {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:DeletePolicy",
            "iam:CreateUser", "iam:CreateAccessKey", *rules.BOUNDED_ROLE_ACTIONS} <= denied
    guarded = next(s for s in _statements(committed, "Deny") if s["Sid"] == "DenyEditingBootstrapPolicies")
    # the bootstrap policies themselves are outside what CloudFormation may create or change
    for name in [e["name"] for e in committed["execution_policies"]] + [committed["role_boundary"]["name"]]:
        assert fnmatch.fnmatchcase(f"arn:{rules.P}:iam::{rules.A}:policy/{name}", guarded["Resource"])
        assert not name.startswith(rules.PREFIX)


def test_every_role_carries_the_role_boundary(all_templates):
    roles = [(variant, stack, logical_id, resource["Properties"]) for variant, stack, template in all_templates
             for logical_id, resource in template["Resources"].items() if resource["Type"] == "AWS::IAM::Role"]
    assert roles
    for variant, stack, logical_id, properties in roles:
        boundary = properties.get("PermissionsBoundary")
        assert boundary, f"{variant} {stack} {logical_id}: no PermissionsBoundary"
        rendered = json.dumps(boundary)
        assert f":policy/{role_boundary_name('')}" in rendered and '"AWS::Region"' in rendered, rendered


def test_the_role_boundary_allows_every_action_of_every_role_policy(committed, all_templates):
    allowed = {a for s in committed["role_boundary"]["document"]["Statement"] for a in _actions(s)}
    needed = role_actions([template for _, _, template in all_templates])
    assert {"sts:AssumeRole", "ecr:PutImage", "logs:PutLogEvents", "ssmmessages:OpenDataChannel",
            "elasticloadbalancing:ModifyListener"} <= needed
    assert needed <= allowed, needed - allowed
    assert committed["role_boundary"]["name"] == role_boundary_name(rules.R)


def test_the_role_boundary_passes_only_cdks_execution_role_and_assumes_only_cdk_roles(committed):
    """No role of the app may touch IAM but one: the CI deploy roles hand CDK's CloudFormation execution role
    (make bootstrap's least-privilege policies) to CloudFormation, instead of assuming CDK's deploy role."""
    for statement in committed["role_boundary"]["document"]["Statement"]:
        assert not any("*" in a for a in _actions(statement))
        if iam := [a for a in _actions(statement) if a.startswith("iam:")]:
            assert iam == ["iam:PassRole"]
            assert statement["Resource"] == f"arn:{rules.P}:iam::{rules.A}:role/cdk-hnb659fds-cfn-exec-role-*"
        if "sts:AssumeRole" in _actions(statement):
            assert statement["Resource"] == f"arn:{rules.P}:iam::{rules.A}:role/cdk-hnb659fds-*"


def test_the_execution_role_boundary_keeps_the_policies_and_the_denies(committed):
    boundary = committed["execution_role_boundary"]["document"]["Statement"]
    ceiling = {a for s in boundary if s["Effect"] == "Allow" for a in _actions(s)}
    for action in _allowed(committed):
        assert f"{action.split(':')[0]}:*" in ceiling, action
    assert [s for s in boundary if s["Effect"] == "Deny"] == _statements(committed, "Deny")


def test_the_security_page_states_the_policys_figures_as_generated():
    """docs/security.md describes the committed policy in numbers; they must be the committed policy's."""
    generated = json.loads(OUTPUT.read_text())
    statements = [s for p in generated["execution_policies"] for s in p["document"]["Statement"]
                  if s["Effect"] == "Allow"]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    on_any = [s for s in statements if s["Resource"] in ("*", ["*"])]
    page = (OUTPUT.parents[1] / "docs" / "security.md").read_text()
    assert f"`cdk-echo-fargate-execution-N-REGION` ({len(generated['execution_policies'])} today)" in page
    assert f"every resource type ({len(generated['resource_types'])} today)" in page
    assert f"The result has {len(actions)} actions" in page
    assert f'`"Resource": "*"` ({len(on_any)} statements)' in page
