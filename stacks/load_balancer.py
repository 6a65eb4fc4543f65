"""The internet-facing entrance: Application Load Balancer, its security group, listener and target group."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from stacks.compliance import acknowledge

HTTP_PORT = 80


@dataclass(frozen=True)
class TargetHealthCheck:
    """How the target group decides a task is healthy, and how long it drains one that stops."""

    path: str
    success_codes: str
    interval: int
    timeout: int
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay: int


class PublicLoadBalancer(Construct):
    """Accepts HTTP on port 80 from `ingress_cidrs` only, and forwards to IP targets on port 80."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, ingress_cidrs: tuple[str, ...],
                 health_check: TargetHealthCheck) -> None:
        super().__init__(scope, construct_id)
        # No outbound rule until a target is attached: the service opens exactly its own port.
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Load balancer: HTTP in from the allowed CIDRs, out to the tasks only",
        )
        for cidr in ingress_cidrs:
            self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(HTTP_PORT), f"HTTP from {cidr}")

        if "0.0.0.0/0" in ingress_cidrs:
            acknowledge(self.security_group, "EC23", "A public web service: the load balancer is the one entrance "
                        "from the internet, on port 80 only; narrow it with the ingress_cidrs setting.")

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=True, security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # Malformed headers are dropped at the edge instead of reaching nginx.
            drop_invalid_header_fields=True,
        )
        acknowledge(self.load_balancer, "ELB2", "Access logs need their own encrypted, retained bucket; they come "
                    "with the production hardening profile (a later issue). CloudWatch metrics cover requests now.")
        self.target_group = elbv2.ApplicationTargetGroup(
            self, "TargetGroup", vpc=vpc, port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            health_check=elbv2.HealthCheck(
                path=health_check.path,
                healthy_http_codes=health_check.success_codes,
                interval=Duration.seconds(health_check.interval),
                timeout=Duration.seconds(health_check.timeout),
                healthy_threshold_count=health_check.healthy_threshold,
                unhealthy_threshold_count=health_check.unhealthy_threshold,
            ),
            # The stock 300 s drain is most of a rolling deploy's wait; echo's requests last milliseconds.
            deregistration_delay=Duration.seconds(health_check.deregistration_delay),
        )
        self.listener = self.load_balancer.add_listener(
            "Http", port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            open=False,  # ingress is the CIDR rules above, not 0.0.0.0/0 by default
            default_target_groups=[self.target_group],
        )

    @property
    def url(self) -> str:
        return f"http://{self.load_balancer.load_balancer_dns_name}"
