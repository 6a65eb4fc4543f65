"""The internet-facing entrance: Application Load Balancer, its security group, listeners and target groups."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Fn
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_control

HTTP_PORT, HTTPS_PORT = 80, 443
# Listener rules are evaluated lowest priority first: paths closed to clients before the traffic rule.
HIDDEN_PATHS_PRIORITY, PRODUCTION_RULE_PRIORITY = 1, 10


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


@dataclass(frozen=True)
class TestListener:
    """Blue/green's test listener: where ECS sends test traffic to the new tasks, and who may reach it."""

    port: int
    ingress_cidrs: tuple[str, ...]  # the settings' test_ingress_cidrs: people and tools that test by hand
    gate_addresses: list[str]  # single addresses (tokens of the NAT gateways' Elastic IPs), as /32


class PublicLoadBalancer(Construct):
    """Accepts HTTP (and HTTPS with a certificate) from `ingress_cidrs` only, and forwards to IP targets on 80.

    With a certificate, port 80 only redirects to 443 (TLS 1.2 and 1.3). With `blue_green`, traffic reaches
    the targets through a listener rule that ECS switches between `target_group` and `alternate_target_group`,
    and a test listener's rule, which ECS points at the new tasks first, is open only to `test_listener`'s sources.
    """

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, ingress_cidrs: tuple[str, ...],
                 health_check: TargetHealthCheck, certificate: acm.ICertificate | None = None,
                 blue_green: bool = False, test_listener: TestListener | None = None,
                 access_logs_bucket: s3.IBucket | None = None, deletion_protection: bool = False) -> None:
        super().__init__(scope, construct_id)
        ports = [HTTP_PORT, HTTPS_PORT] if certificate else [HTTP_PORT]
        # No outbound rule until a target is attached: the service opens exactly its own port.
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Load balancer: HTTP(S) in from the allowed CIDRs, out to the tasks only",
        )
        for cidr in ingress_cidrs:
            for port in ports:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port),
                                                     f"{'HTTPS' if port == HTTPS_PORT else 'HTTP'} from {cidr}")
        if "0.0.0.0/0" in ingress_cidrs:
            acknowledge(self.security_group, "EC23", "A public web service: the load balancer is the one entrance "
                        "from the internet, on its listener ports only; narrow it with the ingress_cidrs setting.")

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=True, security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # Malformed headers are dropped at the edge instead of reaching nginx.
            drop_invalid_header_fields=True,
            # Deleting the stack (or a replacement) must not take the service's address with it by accident.
            deletion_protection=deletion_protection,
        )
        if not deletion_protection:
            acknowledge_control(self.load_balancer, "ELBDeletionProtectionEnabled", "Deletion protection follows "
                                "termination_protection: off in an environment that `cdk destroy` is meant to tear "
                                "down (dev), on in prod.")
        if access_logs_bucket:
            self.load_balancer.log_access_logs(access_logs_bucket, prefix="alb")
        else:
            reason = "Access logs are switched off with access_logs=false; CloudWatch request metrics remain."
            acknowledge(self.load_balancer, "ELB2", reason)
            acknowledge_control(self.load_balancer, "ELBLoggingEnabled", reason)

        self.target_group = self._target_group("TargetGroup", vpc, health_check)
        self.alternate_target_group = self._target_group("AlternateTargetGroup", vpc, health_check) \
            if blue_green else None

        if certificate:
            self.listener = self.load_balancer.add_listener(
                "Https", port=HTTPS_PORT, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
                certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
                # TLS 1.2 and 1.3, AES-GCM with forward secrecy only: the policy Security Hub's ELB.17 recommends
                ssl_policy=elbv2.SslPolicy.TLS13_RES,
                default_action=self._production_default_action(blue_green),
            )
            redirect = self.load_balancer.add_listener(
                "HttpRedirect", port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP, open=False,
                default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port=str(HTTPS_PORT),
                                                             permanent=True),
            )
            acknowledge_control(redirect, "ELBv2ACMCertificateRequired", "Port 80 serves nothing: it answers every "
                                "request with a permanent redirect to HTTPS on 443, whose certificate is from ACM.")
        else:
            self.listener = self.load_balancer.add_listener(
                "Http", port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,  # ingress is the CIDR rules above, not 0.0.0.0/0 by default
                default_action=self._production_default_action(blue_green),
            )
            _acknowledge_plain_http(self.listener)
        if health_check.path != "/":
            # The target group's health checks go straight to the targets, not through the listener's rules, so
            # the health path can be closed to clients: each /healthz asks echo, an easy amplifier for a flood.
            elbv2.ApplicationListenerRule(
                self, "HideHealthCheckPath", listener=self.listener, priority=HIDDEN_PATHS_PRIORITY,
                conditions=[elbv2.ListenerCondition.path_patterns([health_check.path])],
                action=elbv2.ListenerAction.fixed_response(404, content_type="text/plain", message_body="Not Found"),
            )
        self.production_rule: elbv2.ApplicationListenerRule | None = None
        self.test_rule: elbv2.ApplicationListenerRule | None = None
        self.test_url: str | None = None
        if blue_green:
            # ECS blue/green moves traffic by rewriting this rule's weights; CloudFormation writes them only when
            # the rule itself changes (docs/operating.md, "Blue/green releases": which changes do).
            self.production_rule = self._forward_rule("ProductionRule", self.listener)
            if test_listener is None:
                raise ValueError("blue_green needs a test listener")
            self._add_test_listener(test_listener, certificate)
        self.url = (f"https://{self.load_balancer.load_balancer_dns_name}" if certificate
                    else f"http://{self.load_balancer.load_balancer_dns_name}")

    def _forward_rule(self, construct_id: str, listener: elbv2.ApplicationListener) -> elbv2.ApplicationListenerRule:
        """All paths to the primary target group (weight 100) and none to the alternate: the weights ECS expects
        before a deployment, and moves."""
        return elbv2.ApplicationListenerRule(
            self, construct_id, listener=listener, priority=PRODUCTION_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(["/*"])],
            action=elbv2.ListenerAction.weighted_forward([
                elbv2.WeightedTargetGroup(target_group=self.target_group, weight=100),
                elbv2.WeightedTargetGroup(target_group=self.alternate_target_group, weight=0),
            ]),
        )

    def _add_test_listener(self, test: TestListener, certificate: acm.ICertificate | None) -> None:
        # HTTPS with the production certificate when there is one: the gate checks the name it is for.
        secure = certificate is not None
        listener = self.load_balancer.add_listener(
            "Test", port=test.port, open=False,
            protocol=elbv2.ApplicationProtocol.HTTPS if secure else elbv2.ApplicationProtocol.HTTP,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)] if secure else None,
            ssl_policy=elbv2.SslPolicy.TLS13_RES if secure else None,
            default_action=elbv2.ListenerAction.fixed_response(404, content_type="text/plain",
                                                               message_body="Not Found"),
        )
        self.test_rule = self._forward_rule("TestRule", listener)
        if not secure:
            _acknowledge_plain_http(listener)
        for cidr in test.ingress_cidrs:
            self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(test.port),
                                                 f"Test listener from {cidr}")
        for number, address in enumerate(test.gate_addresses, start=1):
            self.security_group.add_ingress_rule(ec2.Peer.ipv4(Fn.join("", [address, "/32"])), ec2.Port.tcp(test.port),
                                                 f"Test listener from the release gate (NAT gateway {number})")
        if test.gate_addresses:
            for rule in ("EC2RestrictedCommonPorts", "EC2RestrictedSSH"):
                acknowledge_control(self.security_group, rule, "The rule cannot read an address the template "
                                    "computes (a NAT gateway's Elastic IP, as a /32 on the test port) and throws "
                                    "instead of deciding. Every inbound rule of this group is on a listener port "
                                    "from the allowed CIDRs or one NAT address (tests/test_compliance.py).")
        scheme = "https" if secure else "http"
        self.test_url = f"{scheme}://{self.load_balancer.load_balancer_dns_name}:{test.port}/"

    def _production_default_action(self, blue_green: bool) -> elbv2.ListenerAction:
        if blue_green:
            return elbv2.ListenerAction.fixed_response(404, content_type="text/plain", message_body="Not Found")
        return elbv2.ListenerAction.forward([self.target_group])

    def _target_group(self, construct_id: str, vpc: ec2.IVpc,
                      health_check: TargetHealthCheck) -> elbv2.ApplicationTargetGroup:
        return elbv2.ApplicationTargetGroup(
            self, construct_id, vpc=vpc, port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
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


def _acknowledge_plain_http(listener: elbv2.ApplicationListener) -> None:
    for rule in ("ALBHttpToHttpsRedirection", "ELBv2ACMCertificateRequired"):
        acknowledge_control(listener, rule, "No certificate: this environment serves plain HTTP on purpose "
                            "(allow_http=true). prod refuses to synthesize without a domain and its certificate.")
