"""HTTPS for the service: the certificate (by ARN, or issued and DNS-validated) and the alias record."""

from __future__ import annotations

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct


class ServiceCertificate(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, certificate_arn: str | None,
                 domain_name: str | None, hosted_zone_name: str | None) -> None:
        super().__init__(scope, construct_id)
        self.domain_name = domain_name
        self.zone: route53.IHostedZone | None = None
        if hosted_zone_name:
            # A context lookup, cached in cdk.context.json: no AWS call on later synths.
            self.zone = route53.HostedZone.from_lookup(self, "Zone", domain_name=hosted_zone_name)
        if certificate_arn:
            self.certificate: acm.ICertificate = acm.Certificate.from_certificate_arn(self, "Certificate",
                                                                                     certificate_arn)
        else:
            self.certificate = acm.Certificate(self, "Certificate", domain_name=domain_name,
                                               validation=acm.CertificateValidation.from_dns(self.zone))

    def add_alias(self, load_balancer: elbv2.ApplicationLoadBalancer) -> None:
        if self.zone and self.domain_name:
            route53.ARecord(self, "Alias", zone=self.zone, record_name=self.domain_name,
                            target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(load_balancer)))
