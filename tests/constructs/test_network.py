"""The VPC: two AZs of public subnets and no NAT in dev; private subnets behind NAT in prod; or an existing VPC."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.network import Network


def test_dev_vpc_has_two_public_subnets_and_no_nat(dev):
    template = dev.template()
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is True for s in subnets.values())
    assert len({str(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}) == 2


def test_prod_vpc_adds_private_subnets_behind_one_nat(prod):
    template = prod.template()
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = template.find_resources("AWS::EC2::Subnet").values()
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert (len(public), len(private)) == (2, 2)


def test_nat_gateways_and_azs_follow_the_settings():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    Network(stack, "Network", max_azs=3, nat_gateways=3, vpc_id=None)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::EC2::NatGateway", 3)
    template.resource_count_is("AWS::EC2::Subnet", 6)


def test_existing_vpc_is_looked_up_not_created(tmp_path):
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Probe",
                      env=cdk.Environment(account="111111111111", region="eu-west-1"))
    network = Network(stack, "Network", max_azs=2, nat_gateways=0, vpc_id="vpc-0123456789abcdef0")
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
