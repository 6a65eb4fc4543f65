"""cdk-nag's AwsSolutions pack runs on every synth: no finding stands unacknowledged, none without a reason."""

from __future__ import annotations


def _report(synth) -> dict:
    (report,) = [r for r in synth.validation_report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return report


def test_no_unacknowledged_findings(each_env):
    report = _report(each_env)
    assert report["conclusion"] == "success"
    assert report["violations"] == []


def test_no_unacknowledged_findings_with_ci_access_and_the_pull_through_cache(with_ci):
    report = _report(with_ci)
    assert report["violations"] == []
    assert "AwsSolutions-IAM5[Resource::*]" in {f["ruleName"] for f in report["suppressedViolations"]}


def test_every_acknowledgement_has_a_reason_on_the_resource_it_concerns(each_env):
    suppressed = _report(each_env)["suppressedViolations"]
    assert suppressed, "expected the known, reasoned acknowledgements"
    for finding in suppressed:
        assert len(finding["reason"]) > 40, finding["ruleName"]
        # Acknowledged on the construct that owns the resource, never on the whole stack or app.
        for construct in finding["violatingConstructs"]:
            assert construct["constructPath"].startswith(finding["acknowledgedAt"] + "/")
        assert finding["acknowledgedAt"].count("/") >= 2, finding["acknowledgedAt"]


def test_the_acknowledged_rules_are_exactly_the_known_ones(dev):
    assert {f["ruleName"] for f in _report(dev)["suppressedViolations"]} == {
        "AwsSolutions-ECS2",  # BACKEND_HOST is not a secret
        "AwsSolutions-EC23",  # the public entrance
        "AwsSolutions-ECS4",  # Container Insights is off in dev (billed per metric)
        "AwsSolutions-S1",  # the access log bucket does not log its own access
    }


def test_prod_acknowledges_its_own_set(prod):
    # Container Insights on (no ECS4); flow logs and access logs on in both; this repository's images from ECR,
    # whose pull needs ecr:GetAuthorizationToken (IAM5 on "*").
    assert {f["ruleName"] for f in _report(prod)["suppressedViolations"]} == {
        "AwsSolutions-ECS2", "AwsSolutions-EC23", "AwsSolutions-S1", "AwsSolutions-IAM5[Resource::*]"}
