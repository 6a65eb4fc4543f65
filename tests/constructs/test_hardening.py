"""Capacity and hardening settings: architecture, spot, ECS Exec, ALB access logs, flow logs, WAF."""

from __future__ import annotations

import json

import pytest

from stacks.web_firewall import MANAGED_RULE_GROUPS
from tests.synth import synthesize


def test_x86_by_default_arm64_on_request_with_images_built_for_it(dev, hardened):
    assert dev.task_definition["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    assert hardened.task_definition["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assets = json.loads((hardened.outdir / "echo-fargate-prod.assets.json").read_text())["dockerImages"]
    assert {a["source"]["platform"] for a in assets.values()} == {"linux/arm64"}


def test_ecs_exec_grants_the_ssm_channel_to_the_task_role_only(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, enable_exec="true")
    assert synth.service["EnableExecuteCommand"] is True
    policy = synth.policy_of("TaskTaskDefinitionTaskRole")
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    assert actions == {"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                       "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"}


@pytest.mark.parametrize(("env", "days"), [("dev", 30), ("prod", 365)])
def test_access_logs_go_to_an_encrypted_tls_only_private_retained_bucket(synthesized, env, days):
    template = synthesized[env].template()
    (bucket,) = template.find_resources("AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                      "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == days
    # Versioned: a deleted or overwritten log survives as a noncurrent version, pruned as long after.
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}
    (policy,) = template.find_resources("AWS::S3::BucketPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)
    (balancer,) = template.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.prefix"] == "alb"


def test_access_logs_can_be_switched_off(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, access_logs="false")
    synth.template().resource_count_is("AWS::S3::Bucket", 0)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_flow_logs_of_all_traffic_to_cloudwatch_with_retention(synthesized, env):
    template = synthesized[env].template()
    (flow_log,) = template.find_resources("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert flow_log["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    group_id = flow_log["Properties"]["LogGroupName"]["Ref"]
    retention = template.find_resources("AWS::Logs::LogGroup")[group_id]["Properties"]["RetentionInDays"]
    assert retention == {"dev": 30, "prod": 365}[env]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_this_accounts_flow_logs_may_assume_the_flow_log_role(synthesized, env):
    template = synthesized[env].template()
    (flow_log,) = template.find_resources("AWS::EC2::FlowLog").values()
    role_id = flow_log["Properties"]["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]
    (statement,) = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":ec2:" in source and "AWS::AccountId" in source and ":vpc-flow-log/*" in source


def test_waf_with_aws_managed_rule_groups_in_prod_only(dev, prod):
    dev.template().resource_count_is("AWS::WAFv2::WebACL", 0)
    (acl,) = prod.template().find_resources("AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert (props["Scope"], props["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    rate, *managed = sorted(props["Rules"], key=lambda rule: rule["Priority"])
    assert [r["Statement"]["ManagedRuleGroupStatement"] for r in managed] == [
        {"VendorName": "AWS", "Name": name} for name in MANAGED_RULE_GROUPS]
    assert all("ManagedRuleGroupStatement" not in r["Statement"] for r in [rate])


def test_waf_blocks_an_address_that_floods_first(prod, tmp_path):
    (acl,) = prod.template().find_resources("AWS::WAFv2::WebACL").values()
    (first,) = [rule for rule in acl["Properties"]["Rules"] if rule["Priority"] == 0]
    assert first["Statement"] == {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP",
                                                         "EvaluationWindowSec": 300}}
    assert first["Action"] == {"Block": {}}
    assert min(rule["Priority"] for rule in acl["Properties"]["Rules"] if rule is not first) == 1
    limited = synthesize("prod", tmp_path, waf_rate_limit="500")
    (acl,) = limited.template().find_resources("AWS::WAFv2::WebACL").values()
    assert acl["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["Limit"] == 500
    (association,) = prod.template().find_resources("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["ResourceArn"]["Ref"].startswith("LoadBalancer")


def _list(value):
    return value if isinstance(value, list) else [value]
