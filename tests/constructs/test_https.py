"""HTTPS: a certificate by ARN, or issued for domain_name and validated in hosted_zone_name; TLS 1.2+/1.3;
HTTP redirected; an alias record. Without either, the service stays HTTP-only (dev)."""

from __future__ import annotations

import json

import aws_cdk as cdk

import app as cdk_app
from tests.synth import CDK_CONTEXT, CERTIFICATE_ARN


def _listeners(synth) -> dict[int, dict]:
    found = synth.template().find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
    return {listener["Properties"]["Port"]: listener["Properties"] for listener in found}


def test_without_a_certificate_only_http(dev):
    assert set(_listeners(dev)) == {80}
    dev.template().resource_count_is("AWS::CertificateManager::Certificate", 0)


def test_prod_serves_https(prod):
    assert set(_listeners(prod)) == {80, 443}
    assert _listeners(prod)[443]["Protocol"] == "HTTPS"


def test_https_listener_with_the_certificate_and_a_tls_12_13_policy(hardened):
    https = _listeners(hardened)[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"


def test_http_is_redirected_to_https(hardened):
    (action,) = _listeners(hardened)[80]["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"] == {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}


def test_the_entrance_opens_443_too_and_the_url_is_https(hardened):
    (group,) = [g["Properties"] for g in hardened.template().find_resources("AWS::EC2::SecurityGroup").values()
                if g["Properties"]["GroupDescription"].startswith("Load balancer")]
    # and blue/green's test listener (8443 with HTTPS), from the release gate's NAT gateway only
    assert sorted(rule["FromPort"] for rule in group["SecurityGroupIngress"]) == [80, 443, 8443]
    # The certificate's name, not the load balancer's DNS name, which the certificate would not match.
    assert hardened.template().find_outputs("ServiceUrl")["ServiceUrl"]["Value"] == "https://echo.example.com"
    hardened.template().resource_count_is("AWS::Route53::RecordSet", 0)  # its DNS is elsewhere


def test_a_domain_gets_a_dns_validated_certificate_and_an_alias(tmp_path, monkeypatch):
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111111111111")
    zone_lookup = "hosted-zone:account=111111111111:domainName=example.com:region=us-east-1"
    context = {**CDK_CONTEXT, "env": "dev", "domain_name": "echo.example.com", "hosted_zone_name": "example.com",
               zone_lookup: {"Id": "/hostedzone/Z0123456789ABCDEFGHIJ", "Name": "example.com."},
               # the VPC's zones, as a cached lookup: a synth with an account asks for them
               "availability-zones:account=111111111111:region=us-east-1": ["us-east-1a", "us-east-1b"]}
    app = cdk.App(context=context, outdir=str(tmp_path))
    assert cdk_app.main(app) == 0
    template = json.loads((tmp_path / "echo-fargate-dev.template.json").read_text())
    resources = template["Resources"].values()
    (certificate,) = [r["Properties"] for r in resources if r["Type"] == "AWS::CertificateManager::Certificate"]
    assert certificate["DomainName"] == "echo.example.com"
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"] == [
        {"DomainName": "echo.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]
    (record,) = [r["Properties"] for r in resources if r["Type"] == "AWS::Route53::RecordSet"]
    assert (record["Name"], record["Type"], record["HostedZoneId"]) == (
        "echo.example.com.", "A", "Z0123456789ABCDEFGHIJ")
    assert "AliasTarget" in record
    assert template["Outputs"]["ServiceUrl"]["Value"] == "https://echo.example.com"
