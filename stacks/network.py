"""The VPC the service runs in: a new one sized by the settings, or an existing one looked up by id."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_control
from stacks.log_groups import LAMBDA_LOG_GROUP_PREFIX, StackLogs

VPC_CIDR = "10.0.0.0/16"
FLOW_LOGS_PRINCIPAL = "vpc-flow-logs.amazonaws.com"
# The stack-wide provider CDK makes for restrict_default_security_group (aws-ec2's Vpc).
RESTRICT_DEFAULT_SG_PROVIDER = "Custom::VpcRestrictDefaultSGCustomResourceProvider"


class Network(Construct):
    """Public subnets always (the load balancer lives there); private subnets only when NAT gateways exist."""

    def __init__(self, scope: Construct, construct_id: str, *, max_azs: int, nat_gateways: int,
                 vpc_id: str | None, stack_logs: StackLogs, flow_logs: bool = True) -> None:
        super().__init__(scope, construct_id)
        # The addresses the private subnets reach the internet from (blue/green's release gate comes to the
        # load balancer's test listener from them); unknown for a VPC this app does not create.
        self.nat_public_ips: list[str] = []
        if vpc_id:
            # A context lookup: CDK asks AWS once and caches the answer in cdk.context.json.
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
            return

        # Nothing launched here needs the subnet to hand out public addresses: the load balancer and the NAT
        # gateways bring their own, and ECS gives a task in a public subnet one itself (assignPublicIp).
        subnets = [ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24,
                                           map_public_ip_on_launch=False)]
        if nat_gateways:
            subnets.append(
                ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22)
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=max_azs,
            # CDK's default is one NAT gateway per AZ (about $33 a month each); here it is a choice.
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            # Nothing here uses the VPC's default security group; without rules it cannot be used by mistake
            # either (a CDK custom resource removes them at create time; the local AWS does the same).
            restrict_default_security_group=True,
        )
        self._keep_handler_logs(stack_logs)
        for subnet in self.vpc.public_subnets:
            acknowledge_control(subnet, "VPCNoUnrestrictedRouteToIGW", "The public subnets hold the internet-facing "
                                "load balancer and the NAT gateways: their route to the internet gateway is what makes "
                                "them public. Private subnets (prod's tasks) route through the NAT gateways instead.")
        # Each NAT gateway's Elastic IP (Ref of an AWS::EC2::EIP is its address), made by CDK in its public subnet.
        self.nat_public_ips = [eip.ref for subnet in self.vpc.public_subnets
                               if isinstance(eip := subnet.node.try_find_child("EIP"), ec2.CfnEIP)]
        if flow_logs:
            # Rejected and accepted traffic alike, kept as long as the container logs.
            log_group = stack_logs.group(self, "FlowLogs")
            stack = Stack.of(self)
            # Only flow logs of this account may use the role (confused deputy), as AWS's flow log guide advises.
            role = iam.Role(self, "FlowLogRole", description="VPC flow logs: write to the flow log group",
                            assumed_by=iam.ServicePrincipal(FLOW_LOGS_PRINCIPAL, conditions={
                                "StringEquals": {"aws:SourceAccount": stack.account},
                                "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:ec2:{stack.region}:"
                                                             f"{stack.account}:vpc-flow-log/*"},
                            }))
            self.vpc.add_flow_log("FlowLog",
                                  destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group, role))
        else:
            acknowledge(self.vpc, "VPC7", "Flow logs are switched off with flow_logs=false; the load balancer's "
                        "metrics still show the traffic that reaches the service.")

    def _keep_handler_logs(self, stack_logs: StackLogs) -> None:
        """The log group the default-security-group handler writes to, made before it runs: left to Lambda, it
        would be created on first use with no retention and no key."""
        stack = Stack.of(self)
        handler = stack.node.find_child(RESTRICT_DEFAULT_SG_PROVIDER).node.find_child("Handler")
        group = stack_logs.group(self, "RestrictDefaultSecurityGroupLogs",
                                 name=Fn.join("", [LAMBDA_LOG_GROUP_PREFIX, handler.ref]))
        self.vpc.node.find_child("RestrictDefaultSecurityGroupCustomResource").node.add_dependency(group)
