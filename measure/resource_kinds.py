"""How the cost report treats every resource type the templates can hold: priced (by the line named), free, or
not estimated (with why). A type that is none of these is reported as unclassified, and a test fails on it
(tests/test_report_resource_kinds.py reads every type of every variant from bootstrap/execution-policy.json)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Type -> the report lines that price it.
PRICED = {
    "AWS::ECS::Service": "Fargate, Fargate Spot (its tasks)",
    "AWS::ECS::Cluster": "Container Insights, when it is on",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "ALB hours, Public IPv4, ALB LCUs, Data transfer out",
    "AWS::EC2::NatGateway": "NAT gateways, NAT data processing",
    "AWS::EC2::EIP": "Public IPv4",
    "AWS::EC2::VPCEndpoint": "Interface endpoints",
    "AWS::WAFv2::WebACL": "WAF, WAF requests",
    "AWS::WAFv2::LoggingConfiguration": "Log ingestion (WAF's records)",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboards",
    "AWS::KMS::Key": "KMS keys",
    "AWS::Logs::LogGroup": "Log ingestion, Log storage",
    "AWS::EC2::FlowLog": "Log ingestion (flow log records)",
    "AWS::S3::Bucket": "Access logs (S3)",
}

_VPC = "VPC building blocks have no charge of their own"
_PART_OF_LB = "part of the load balancer, priced by its hours and LCUs"
_POLICY = "a policy has no charge"
# Type -> why it costs nothing.
FREE = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "Application Auto Scaling has no charge of its own",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "Application Auto Scaling has no charge of its own",
    "AWS::CertificateManager::Certificate": "public ACM certificates are free",
    "AWS::EC2::InternetGateway": _VPC, "AWS::EC2::Route": _VPC, "AWS::EC2::RouteTable": _VPC,
    "AWS::EC2::SecurityGroup": _VPC, "AWS::EC2::SecurityGroupEgress": _VPC, "AWS::EC2::SecurityGroupIngress": _VPC,
    "AWS::EC2::Subnet": _VPC, "AWS::EC2::SubnetRouteTableAssociation": _VPC, "AWS::EC2::VPC": _VPC,
    "AWS::EC2::VPCGatewayAttachment": _VPC,
    "AWS::ECR::PullThroughCacheRule": "the rule is free; what it caches is ECR storage of the shared registry",
    "AWS::ECS::ClusterCapacityProviderAssociations": "Fargate capacity providers have no charge of their own",
    "AWS::ECS::TaskDefinition": "a definition; its tasks are priced by the service that runs them",
    "AWS::ElasticLoadBalancingV2::Listener": _PART_OF_LB,
    "AWS::ElasticLoadBalancingV2::ListenerRule": _PART_OF_LB + " (rules beyond 10 count in ALB LCUs)",
    "AWS::ElasticLoadBalancingV2::TargetGroup": _PART_OF_LB,
    "AWS::Events::Rule": "EventBridge delivers AWS services' own events to rules free of charge",
    "AWS::IAM::OIDCProvider": "IAM has no charge", "AWS::IAM::Policy": "IAM has no charge",
    "AWS::IAM::Role": "IAM has no charge", "AWS::IAM::ManagedPolicy": "IAM has no charge",
    "AWS::KMS::Alias": "aliases are free",
    "AWS::S3::BucketPolicy": _POLICY, "AWS::SNS::TopicPolicy": _POLICY, "AWS::SQS::QueuePolicy": _POLICY,
    "AWS::Route53::RecordSet": "records are free, and so are alias queries to a load balancer (the hosted zone is "
                               "yours, outside the stack)",
    "AWS::SNS::Subscription": "a subscription has no charge; its deliveries are the topic's",
    "AWS::WAFv2::WebACLAssociation": "an association has no charge; the web ACL is priced",
    "AWS::CDK::Metadata": "CDK's record of the construct library versions, not an AWS resource",
    "AWS::Lambda::Permission": "a permission has no charge",
}

# Type -> why it is not estimated (what it is billed by, and why that is left out).
NOT_ESTIMATED = {
    "AWS::ECR::Repository": "$0.10 per GB-month of the images kept: the shared registry stack, outside each "
                            "environment's total",
    "AWS::Lambda::Function": "$0.20 per million requests and $0.0000166667 per GB-second: the release gate runs "
                             "once per blue/green deploy and CDK's handlers once per deploy, fractions of a cent",
    "Custom::VpcRestrictDefaultSG": "one Lambda invocation per deploy ($0.20 per million): fractions of a cent",
    "AWS::SNS::Topic": "$0.50 per million publishes, email $2 per 100,000: the alarms' rare notifications",
    "AWS::SQS::Queue": "$0.40 per million requests: the redeploy rules' dead-letter queue, idle",
    "AWS::StepFunctions::StateMachine": "$0.025 per 1,000 state transitions: one run per changed secret",
    "AWS::SecretsManager::Secret": "$0.40 per secret-month: not in the price table",
    "AWS::Route53::HostedZone": "$0.50 per hosted zone-month: not in the price table",
}


@dataclass(frozen=True)
class Kinds:
    """The resource types of a template, sorted by how the report treats them."""

    priced: tuple[str, ...]
    free: tuple[str, ...]
    not_estimated: tuple[str, ...]
    unclassified: tuple[str, ...]


def kinds(resource_types: Iterable[str]) -> Kinds:
    present = sorted(set(resource_types))
    return Kinds(
        priced=tuple(t for t in present if t in PRICED),
        free=tuple(t for t in present if t in FREE),
        not_estimated=tuple(t for t in present if t in NOT_ESTIMATED),
        unclassified=tuple(t for t in present if t not in PRICED and t not in FREE and t not in NOT_ESTIMATED),
    )


def template_types(template: dict) -> list[str]:
    return [resource.get("Type", "") for resource in (template.get("Resources") or {}).values()
            if isinstance(resource, dict)]
