"""The stack's log groups: one way of making them, encrypted with the stack's own key where log_kms_key asks, and
WAF's requests logged to an `aws-waf-logs-` group with the credentials redacted."""

from __future__ import annotations

import json

import pytest

from stacks.log_groups import LOGS_KEY_ACTIONS
from stacks.web_firewall import REDACTED_HEADERS
from tests.synth import synthesize

KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/12345678-1234-1234-1234-123456789012"


@pytest.fixture(scope="module")
def given_key(tmp_path_factory):
    """dev with a key of the team's own, by ARN."""
    return synthesize("dev", tmp_path_factory.mktemp("cdk.out-log-key"), log_kms_key=KEY_ARN)


def _groups(synth) -> dict[str, dict]:
    return synth.template().find_resources("AWS::Logs::LogGroup")


def _logs_key(synth) -> tuple[str, dict]:
    (name,) = [name for name in synth.template().find_resources("AWS::KMS::Key") if name.startswith("LogsKey")]
    return name, synth.templates[synth.service_stack]["Resources"][name]


def test_prod_encrypts_every_log_group_with_its_own_rotated_retained_key(prod):
    name, key = _logs_key(prod)
    assert key["Properties"]["EnableKeyRotation"] is True
    # The groups are retained in prod; a deleted key would leave them unreadable, so the key is retained too.
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["PendingWindowInDays"] == 30
    (alias,) = prod.template().find_resources("AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == "alias/echo-fargate-prod/logs"
    groups = _groups(prod)
    assert len(groups) >= 4  # two containers, flow logs, WAF, the default-SG handler
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [name, "Arn"]}


def test_the_key_lets_cloudwatch_logs_use_it_for_this_stacks_groups_only(prod):
    _, key = _logs_key(prod)
    (statement,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert sorted(statement["Action"]) == sorted(LOGS_KEY_ACTIONS)
    patterns = [part["Fn::Join"][1][-1].split(":log-group:")[1]
                for part in statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]]
    assert patterns == ["echo-fargate-prod-*", "aws-waf-logs-echo-fargate-prod", "/aws/lambda/echo-fargate-prod-*"]
    # Each group's name is one the condition admits: named ones explicitly, the rest named by CloudFormation
    # after the stack (STACK-LogicalId-random), the handler's group after its function (named the same way).
    resources = prod.templates[prod.service_stack]["Resources"]
    for group in _groups(prod).values():
        name = group["Properties"].get("LogGroupName")
        if isinstance(name, str):
            assert name in patterns
        elif name is not None:
            prefix, function = name["Fn::Join"][1]
            assert prefix == "/aws/lambda/"
            assert "FunctionName" not in resources[function["Ref"]]["Properties"]


def test_dev_makes_no_key_and_says_why_its_groups_use_cloudwatchs_own(dev):
    assert dev.template().find_resources("AWS::KMS::Key") == {}
    assert all("KmsKeyId" not in group["Properties"] for group in _groups(dev).values())


def test_a_key_given_by_arn_encrypts_the_groups_and_no_key_is_made(given_key):
    assert given_key.template().find_resources("AWS::KMS::Key") == {}
    groups = _groups(given_key)
    assert groups and all(group["Properties"]["KmsKeyId"] == KEY_ARN for group in groups.values())


def test_waf_logs_every_request_to_its_own_group_with_credentials_redacted(prod):
    template = prod.template()
    (logging,) = template.find_resources("AWS::WAFv2::LoggingConfiguration").values()
    props = logging["Properties"]
    assert props["ResourceArn"]["Fn::GetAtt"][0].startswith("WebFirewallWebAcl")
    assert props["RedactedFields"] == [{"SingleHeader": {"Name": header}} for header in REDACTED_HEADERS]
    ((destination),) = props["LogDestinationConfigs"]
    # WAF wants the group's ARN without the ":*" CDK's logGroupArn ends with.
    assert not json.dumps(destination).endswith(':*"]]}')
    group_ref = destination["Fn::Join"][1][-1]["Ref"]
    group = prod.templates[prod.service_stack]["Resources"][group_ref]
    assert group["Properties"]["LogGroupName"] == "aws-waf-logs-echo-fargate-prod"
    assert group["Properties"]["RetentionInDays"] == 365
    assert group["DeletionPolicy"] == "Retain"


def test_no_waf_no_waf_logs(dev):
    assert dev.template().find_resources("AWS::WAFv2::LoggingConfiguration") == {}
