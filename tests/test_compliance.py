"""Every rule pack an auditor runs (AwsSolutions, NIST 800-53 rev 5, HIPAA, PCI DSS) runs on every synth: no
finding stands unacknowledged, and each acknowledgement is a reasoned decision on the construct it concerns."""

from __future__ import annotations

import contextlib
import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

import stacks.log_groups
from settings import load_settings
from stacks.compliance import AWS_SOLUTIONS, PACKS, REGULATORY_PACKS, add_rule_packs
from tests.synth import CDK_CONTEXT, REQUIRED_INPUTS
from tools import compliance_report

REGULATORY = tuple(REGULATORY_PACKS)


def _reports(synth) -> dict[str, dict]:
    return {report["pluginName"]: report for report in synth.validation_report["pluginReports"]}


def _acknowledged_rules(synth, pack: str) -> set[str]:
    return {compliance_report._rule(pack, finding["ruleName"])
            for finding in _reports(synth)[pack]["suppressedViolations"]}


def test_every_pack_runs_on_every_synth_and_finds_nothing_unacknowledged(each_env):
    reports = _reports(each_env)
    assert sorted(reports) == sorted(PACKS)
    for pack, report in reports.items():
        assert report["violations"] == [], pack
        assert report["conclusion"] == "success", pack


@pytest.mark.parametrize("variant", ["with_ci", "built_images", "ecr_images", "hardened"])
def test_the_variants_pass_every_pack_too(request, variant):
    reports = _reports(request.getfixturevalue(variant))
    assert sorted(reports) == sorted(PACKS)
    assert {pack: report["violations"] for pack, report in reports.items()} == {pack: [] for pack in PACKS}


def test_every_acknowledgement_has_a_reason_on_the_construct_it_concerns(each_env):
    for pack, report in _reports(each_env).items():
        assert report["suppressedViolations"], f"{pack}: expected the known, reasoned acknowledgements"
        for finding in report["suppressedViolations"]:
            assert len(finding["reason"]) > 60, (pack, finding["ruleName"])
            # On the construct that owns the resource, never on the whole stack or app.
            assert finding["acknowledgedAt"].count("/") >= 2, finding["acknowledgedAt"]
            for construct in finding["violatingConstructs"]:
                assert construct["constructPath"].startswith(finding["acknowledgedAt"] + "/")


def test_the_ci_roles_wildcards_are_acknowledged_where_they_are(with_ci):
    assert "AwsSolutions-IAM5[Resource::*]" in _acknowledged_rules(with_ci, AWS_SOLUTIONS)


# The decisions prod makes, in each regulatory pack that has the rule (docs/compliance.md says why each stands).
PROD_DECISIONS = {
    "ELBv2ACMCertificateRequired",  # port 80 only redirects to HTTPS
    "IAMNoInlinePolicy",  # the inline policy of exactly one role
    "S3BucketLoggingEnabled", "S3BucketReplicationEnabled",  # the access-log bucket itself
    "S3DefaultEncryptionKMS",  # ALB access logs support SSE-S3 only
    "VPCNoUnrestrictedRouteToIGW",  # the public subnets of the load balancer and the NAT gateway
}
# What dev adds, each for cost or because it is torn down on purpose, each tied to the setting that decides it.
DEV_EXTRA = {
    "ALBHttpToHttpsRedirection": "allow_http", "ELBv2ACMCertificateRequired": "allow_http",
    "ALBWAFEnabled": "waf", "CloudWatchLogGroupEncrypted": "log_kms_key",
    "ELBDeletionProtectionEnabled": "termination_protection",
}


@pytest.mark.parametrize("pack", REGULATORY)
def test_prod_acknowledges_only_its_decisions(prod, pack):
    rules = _acknowledged_rules(prod, pack)
    assert rules <= PROD_DECISIONS
    # HIPAA has no ALB WAF rule, so the shared decisions are checked where the pack has them.
    assert {"IAMNoInlinePolicy", "S3DefaultEncryptionKMS", "VPCNoUnrestrictedRouteToIGW"} <= rules


@pytest.mark.parametrize("pack", REGULATORY)
def test_dev_acknowledges_more_each_with_the_setting_that_decides_it(dev, prod, pack):
    extra = _acknowledged_rules(dev, pack) - _acknowledged_rules(prod, pack)
    assert extra <= set(DEV_EXTRA)
    assert {"CloudWatchLogGroupEncrypted", "ALBHttpToHttpsRedirection"} <= extra  # rules of all three packs
    for finding in _reports(dev)[pack]["suppressedViolations"]:
        rule = compliance_report._rule(pack, finding["ruleName"])
        if rule in extra:
            assert DEV_EXTRA[rule] in finding["reason"], (rule, finding["reason"])


def test_the_awssolutions_acknowledgements_are_exactly_the_known_ones(dev, prod):
    assert _acknowledged_rules(dev, AWS_SOLUTIONS) == {
        "AwsSolutions-ECS2",  # BACKEND_HOST is not a secret
        "AwsSolutions-EC23",  # the public entrance
        "AwsSolutions-ECS4",  # Container Insights is off in dev (billed per metric)
        "AwsSolutions-S1",  # the access log bucket does not log its own access
    }
    # Container Insights on (no ECS4); this repository's images from ECR, whose pull needs
    # ecr:GetAuthorizationToken (IAM5 on "*").
    assert _acknowledged_rules(prod, AWS_SOLUTIONS) == {
        "AwsSolutions-ECS2", "AwsSolutions-EC23", "AwsSolutions-S1", "AwsSolutions-IAM5[Resource::*]"}


def test_prod_builds_what_the_findings_asked_for_instead_of_acknowledging_it(prod):
    rules = set().union(*(_acknowledged_rules(prod, pack) for pack in REGULATORY))
    assert not rules & {"CloudWatchLogGroupEncrypted", "ELBDeletionProtectionEnabled", "ALBWAFEnabled",
                        "WAFv2LoggingEnabled", "VPCDefaultSecurityGroupClosed", "EC2RestrictedCommonPorts",
                        "ALBHttpToHttpsRedirection", "S3BucketVersioningEnabled"}


COMMON_PORTS = {20, 21, 22, 3306, 3389, 4333}  # the ports cdk-nag's EC2RestrictedCommonPorts/SSH look for


def test_the_load_balancer_admits_its_listener_ports_from_the_allowed_cidrs_or_a_nat_address(hardened):
    """Stands in for EC2RestrictedCommonPorts/SSH where they cannot read a NAT gateway's address (an
    acknowledgement in stacks/load_balancer.py points here)."""
    template = hardened.template()
    resources = hardened.templates[hardened.service_stack]["Resources"]
    listener_ports = {listener["Properties"]["Port"] for listener in
                      template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()}
    allowed = load_settings({**CDK_CONTEXT, "env": "prod", **REQUIRED_INPUTS["prod"]}).ingress_cidrs
    (group,) = [g for name, g in template.find_resources("AWS::EC2::SecurityGroup").items()
                if name.startswith("LoadBalancerSecurityGroup")]
    rules = group["Properties"]["SecurityGroupIngress"]
    nat_rules = [rule for rule in rules if isinstance(rule["CidrIp"], dict)]
    assert nat_rules, "the hardened variant's release gate reaches the test listener through the NAT gateway"
    for rule in rules:
        assert rule["IpProtocol"] == "tcp" and rule["FromPort"] == rule["ToPort"]
        assert rule["FromPort"] in listener_ports and rule["FromPort"] not in COMMON_PORTS
        if rule in nat_rules:
            (address, suffix) = rule["CidrIp"]["Fn::Join"][1]
            assert suffix == "/32"
            assert resources[address["Ref"]]["Type"] == "AWS::EC2::EIP"
        else:
            assert rule["CidrIp"] in allowed


def _synth_policy_of(tmp_path, roles: int) -> dict[str, list]:
    """A stack with one inline policy given to `roles` roles, under every pack: IAMNoInlinePolicy per pack."""
    app = cdk.App(outdir=str(tmp_path))
    add_rule_packs(app)
    stack = cdk.Stack(app, "PolicyTest")
    policy = iam.Policy(stack, "Policy", statements=[iam.PolicyStatement(actions=["s3:GetObject"],
                                                                         resources=["arn:aws:s3:::b/k"])])
    for number in range(roles):
        policy.attach_to_role(iam.Role(stack, f"Role{number}", assumed_by=iam.ServicePrincipal("ecs.amazonaws.com")))
    with contextlib.suppress(RuntimeError):  # a finding fails the synth; the report is written first
        app.synth()
    reports = {r["pluginName"]: r for r in json.loads((tmp_path / "validation-report.json").read_text())
               ["pluginReports"]}
    return {pack: [f["ruleName"] for f in reports[pack]["violations"] if f["ruleName"].endswith("IAMNoInlinePolicy")]
            for pack in REGULATORY}


def test_an_inline_policy_of_one_role_is_acknowledged_and_a_shared_one_is_not(tmp_path):
    assert _synth_policy_of(tmp_path / "one", roles=1) == {pack: [] for pack in REGULATORY}
    shared = _synth_policy_of(tmp_path / "two", roles=2)
    assert shared == {pack: [f"{pack}-IAMNoInlinePolicy"] for pack in REGULATORY}


# make compliance: the page an auditor reads.

def _rendered(synth) -> str:
    return compliance_report.render(synth.env, synth.validation_report, sorted(synth.templates),
                                    REQUIRED_INPUTS.get(synth.env, {}))


def test_the_compliance_page_holds_the_report_of_each_environment_as_synthesized_today(dev, prod):
    page = compliance_report.PAGE.read_text()
    for synth in (dev, prod):
        assert _rendered(synth) in page, f"docs/compliance.md is out of date for {synth.env}: make compliance-docs"


def test_the_report_lists_each_pack_and_every_acknowledgement_with_its_reason(prod):
    text = _rendered(prod)
    for pack in PACKS:
        assert re.search(rf"^\| {re.escape(pack)} \| 0 \| [1-9]\d* \|$", text, re.MULTILINE), pack
    for report in _reports(prod).values():
        for finding in report["suppressedViolations"]:
            assert compliance_report._cell(finding["reason"]) in text


def test_make_compliance_fails_and_names_a_finding_that_is_not_acknowledged(monkeypatch, capsys):
    # As if the log groups' acknowledgement had been forgotten: dev's unencrypted groups become findings.
    monkeypatch.setattr(stacks.log_groups, "acknowledge_control", lambda *args, **kwargs: None)
    assert compliance_report.main(["--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert "Findings (the synth fails until each is fixed or acknowledged)" in out
    assert re.search(r"^\| NIST\.800\.53\.R5 \| CloudWatchLogGroupEncrypted \| `echo-fargate-dev/Task/EchoLogs/"
                     r"Resource` \|", out, re.MULTILINE)
    assert re.search(r"^\| NIST\.800\.53\.R5 \| [1-9]\d* \|", out, re.MULTILINE)


def test_make_compliance_passes_on_the_settings_as_they_are(capsys):
    assert compliance_report.main(["--env", "prod"]) == 0
    assert "Findings" not in capsys.readouterr().out
