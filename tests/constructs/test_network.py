"""The VPC: two AZs of public subnets and no NAT in dev; private subnets behind NAT in prod; or an existing VPC."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.log_groups import StackLogs
from stacks.network import Network


def _subnet_types(template) -> list[str]:
    return sorted(tag["Value"] for s in template.find_resources("AWS::EC2::Subnet").values()
                  for tag in s["Properties"]["Tags"] if tag["Key"] == "aws-cdk:subnet-type")


def _network(stack: cdk.Stack, **settings) -> Network:
    return Network(stack, "Network", stack_logs=StackLogs(stack, "Logs", retention_days=7, retain=False,
                                                          kms_key=None), **settings)


def test_dev_vpc_has_two_public_subnets_and_no_nat(dev):
    template = dev.template()
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert _subnet_types(template) == ["Public", "Public"]
    assert len({str(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}) == 2


def test_prod_vpc_adds_private_subnets_behind_one_nat(prod):
    template = prod.template()
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    assert _subnet_types(template) == ["Private", "Private", "Public", "Public"]


def test_no_subnet_hands_out_public_addresses(each_env):
    # The load balancer and NAT gateways have their own; ECS gives dev's tasks theirs (assignPublicIp).
    subnets = each_env.template().find_resources("AWS::EC2::Subnet").values()
    assert [s["Properties"]["MapPublicIpOnLaunch"] for s in subnets] == [False] * len(subnets)
    if each_env.env == "dev":
        assert each_env.service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"


def test_the_default_security_group_is_emptied_by_cdks_handler_which_logs_with_retention(each_env):
    template = each_env.template()
    (restrict,) = template.find_resources("Custom::VpcRestrictDefaultSG").values()
    assert restrict["Properties"]["DefaultSecurityGroupId"] == {"Fn::GetAtt": [_logical_id(template, "AWS::EC2::VPC"),
                                                                               "DefaultSecurityGroup"]}
    # The handler's log group exists before the handler runs, under the name Lambda gives it.
    (handler,) = [name for name, r in template.find_resources("AWS::Lambda::Function").items()
                  if "CustomVpcRestrictDefaultSG" in name]
    groups = {name: r for name, r in template.find_resources("AWS::Logs::LogGroup").items()
              if r["Properties"].get("LogGroupName") == {"Fn::Join": ["", ["/aws/lambda/", {"Ref": handler}]]}}
    (group_id, group), = groups.items()
    assert group_id in restrict["DependsOn"]
    assert group["Properties"]["RetentionInDays"] == (365 if each_env.env == "prod" else 30)


def _logical_id(template, resource_type: str) -> str:
    (logical_id,) = template.find_resources(resource_type)
    return logical_id


def test_nat_gateways_and_azs_follow_the_settings():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    _network(stack, max_azs=3, nat_gateways=3, vpc_id=None)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::NatGateway", 3)
    template.resource_count_is("AWS::EC2::Subnet", 6)


def test_existing_vpc_is_looked_up_not_created(tmp_path):
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Probe",
                      env=cdk.Environment(account="111111111111", region="eu-west-1"))
    network = _network(stack, max_azs=2, nat_gateways=0, vpc_id="vpc-0123456789abcdef0")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.resource_count_is("AWS::EC2::Subnet", 0)
    # The lookup is CDK's context provider (cached in cdk.context.json), not an AWS call from our code.
    missing = json.loads((tmp_path / "manifest.json").read_text())["missing"]
    assert [m["key"] for m in missing if m["provider"] == "vpc-provider"] == [
        "vpc-provider:account=111111111111:filter.vpc-id=vpc-0123456789abcdef0:region=eu-west-1"
        ":returnAsymmetricSubnets=true"
    ]
    assert network.vpc.vpc_id  # a placeholder until the lookup is cached
