"""The rule packs every synth runs, and acknowledging one of their findings: always on the narrowest construct,
always with the reason in code.

AwsSolutions is AWS's own best practice. The three regulatory packs are what auditors of finance and health
teams scan templates with; their rules are mostly the same checks under one name (the operational best
practices AWS Config publishes per framework), so a finding is acknowledged in all three at once.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct

AWS_SOLUTIONS = "AwsSolutions"
# The name each pack reports under (its plugin name) -> the pack.
REGULATORY_PACKS = {"NIST.800.53.R5": NIST80053R5Checks, "HIPAA.Security": HIPAASecurityChecks,
                    "PCI.DSS.321": PCIDSS321Checks}
PACKS = (AWS_SOLUTIONS, *REGULATORY_PACKS)


def add_rule_packs(app: cdk.App) -> None:
    """Every pack on every synth of every environment: a finding fails the synth, as a failing test would."""
    validations = cdk.Validations.of(app)
    validations.add_plugins(AwsSolutionsChecks(app))
    for pack in REGULATORY_PACKS.values():
        validations.add_plugins(pack(app))
    cdk.Aspects.of(app).add(InlinePoliciesOfOneRole())


ONE_ROLE_INLINE_POLICY = (
    "The inline policy of exactly one role, written by CDK's grants for that role's one job. IAM's user guide "
    "keeps inline policies for 'a strict one-to-one relationship between a policy and the identity': it is "
    "deleted with its role, can be attached to no other, and the permissions boundary caps it. A customer managed "
    "policy would add a versioned object that no other role would ever use.")


@jsii.implements(cdk.IAspect)
class InlinePoliciesOfOneRole:
    """Acknowledges the regulatory packs' IAMNoInlinePolicy on each inline policy that belongs to one role and
    nothing else; a policy shared by roles, or given to a user or group, is left to fail the synth."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        stack = cdk.Stack.of(node)  # CDK's grants fill these lazily: what they hold shows once resolved
        roles, users, groups = (stack.resolve(attached) for attached in (node.roles, node.users, node.groups))
        if len(roles or []) == 1 and not users and not groups:
            acknowledge_control(node.node.scope, "IAMNoInlinePolicy", ONE_ROLE_INLINE_POLICY)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept an AwsSolutions finding (e.g. rule='EC23') on `scope` and what it contains, nothing wider."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{AWS_SOLUTIONS}::{AWS_SOLUTIONS}-{rule}",
                                                             reason=reason))


def acknowledge_control(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept a finding of the regulatory packs (e.g. rule='CloudWatchLogGroupEncrypted') on `scope` and what it
    contains, in each pack that has the rule."""
    for pack in REGULATORY_PACKS:
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{pack}::{pack}-{rule}", reason=reason))
