"""The decisions behind the execution policy, each with its reason: which ARNs CloudFormation may touch per
service, which actions must stay on "*" and why, which schema permissions are dropped and why.

Placeholders are CloudFormation's pseudo parameters; the policy stack (bootstrap/app.py) substitutes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from stacks.ci_access import BOOTSTRAP_QUALIFIER

P, R, A = "${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"
# CloudFormation names what it creates `STACK-LOGICALID-RANDOM`; every stack of this app is `echo-fargate-*`.
PREFIX = "echo-fargate-"
POLICY_PREFIX = "cdk-echo-fargate"  # the bootstrap policies: outside PREFIX, so no template can edit them


def execution_policy_name(index: int) -> str:
    return f"{POLICY_PREFIX}-execution-{index}-{R}"


EXECUTION_ROLE_BOUNDARY_NAME = f"{POLICY_PREFIX}-exec-boundary-{R}"
# stacks/permissions_boundary.py builds the same name from ROLE_BOUNDARY_PREFIX (test_bootstrap_policy checks).
ROLE_BOUNDARY_NAME = f"{POLICY_PREFIX}-boundary-{R}"
ROLE_BOUNDARY_ARN = f"arn:{P}:iam::{A}:policy/{ROLE_BOUNDARY_NAME}"

# Service -> resource type (as cfn-lint's IAM catalogue names it) -> the ARN (or ARNs) these stacks' resources have.
NAMED: dict[str, dict[str, str | tuple[str, ...]]] = {
    "iam": {"role": f"arn:{P}:iam::{A}:role/{PREFIX}*",
            "oidc-provider": f"arn:{P}:iam::{A}:oidc-provider/oidc.circleci.com/org/*"},
    # ...and WAF's, which WAF wants named aws-waf-logs-... (stacks/log_groups.py names it after the stack)
    # ...and those of CDK's custom resource handlers (/aws/lambda/FUNCTION, the function STACK-LOGICALID-RANDOM)
    "logs": {"log-group": (f"arn:{P}:logs:{R}:{A}:log-group:{PREFIX}*",
                           f"arn:{P}:logs:{R}:{A}:log-group:aws-waf-logs-{PREFIX}*",
                           f"arn:{P}:logs:{R}:{A}:log-group:/aws/lambda/{PREFIX}*")},
    "ecs": {"cluster": f"arn:{P}:ecs:{R}:{A}:cluster/{PREFIX}*",
            # service/CLUSTER/SERVICE: the cluster's name carries the stack's
            "service": f"arn:{P}:ecs:{R}:{A}:service/{PREFIX}*",
            "task-definition": f"arn:{P}:ecs:{R}:{A}:task-definition/echo-task:*"},
    "ecr": {"repository": f"arn:{P}:ecr:{R}:{A}:repository/echo-fargate/*"},
    # ...and the objects of CDK's asset bucket: the release gate's code, which Lambda reads with the caller's
    # rights when CloudFormation creates the function
    "s3": {"bucket": f"arn:{P}:s3:::{PREFIX}*",
           "object": (f"arn:{P}:s3:::{PREFIX}*/*", f"arn:{P}:s3:::cdk-{BOOTSTRAP_QUALIFIER}-assets-{A}-{R}/*")},
    "sns": {"topic": f"arn:{P}:sns:{R}:{A}:{PREFIX}*"},
    "cloudwatch": {"alarm": f"arn:{P}:cloudwatch:{R}:{A}:alarm:{PREFIX}*",
                   # Not checked that a generated dashboard name starts with the stack's; a dashboard holds
                   # no data, only graphs.
                   "dashboard": f"arn:{P}:cloudwatch::{A}:dashboard/*"},
    # ECR requires a pull-through cache's credentials to be a secret named ecr-pullthroughcache/...
    "secretsmanager": {"Secret": f"arn:{P}:secretsmanager:{R}:{A}:secret:ecr-pullthroughcache/*"},
    # The log group handler tags Firehose streams (for log deliveries); these stacks make none.
    "firehose": {"deliverystream": f"arn:{P}:firehose:{R}:{A}:deliverystream/{PREFIX}*"},
    # redeploy_on_secret_change: CloudFormation names rules and queues STACK-LOGICALID-RANDOM; the state machine
    # is named after the stack (stacks/secret_redeploy.py).
    "events": {"rule-on-default-event-bus": f"arn:{P}:events:{R}:{A}:rule/{PREFIX}*"},
    "states": {"statemachine": f"arn:{P}:states:{R}:{A}:stateMachine:{PREFIX}*"},
    "sqs": {"queue": f"arn:{P}:sqs:{R}:{A}:{PREFIX}*"},
    # blue/green's release gate: CloudFormation names the function STACK-LOGICALID-RANDOM
    "lambda": {"function": f"arn:{P}:lambda:{R}:{A}:function:{PREFIX}*"},
    # Key ids are random: any key in the region, but only one tagged as this project's (Tags.of(stack)).
    "kms": {"key": f"arn:{P}:kms:{R}:{A}:key/*",
            # the log key's alias, alias/STACK/logs (stacks/log_groups.py)
            "alias": f"arn:{P}:kms:{R}:{A}:alias/{PREFIX}*"},
}
KMS_TAG_CONDITION = {"StringEquals": {"aws:ResourceTag/project": "echo-fargate"}}

# Services whose resources get ids or names CloudFormation cannot be told in advance: Resource "*", limited to
# the region of the stack (aws:RequestedRegion) except for global services.
ANY_RESOURCE_SERVICES: dict[str, str] = {
    "ec2": "VPCs, subnets, route tables, gateways, addresses, security groups and flow logs get random ids",
    "elasticloadbalancing": "load balancer and target group names are generated, cut to 32 characters, so "
                            "they do not keep the stack's name",
    "application-autoscaling": "scalable targets and policies are addressed by random ids",
    "wafv2": "web ACL ARNs end in a random id, and creating one reads AWS's managed rule groups",
    "acm": "certificate ids are random",
    "route53": "the hosted zone is yours, chosen by hosted_zone_name; Route 53 is global",
    "autoscaling": "DescribeTags (EC2 Auto Scaling), read-only, which the flow log handler lists; it accepts "
                   "no resource ARN",
}
GLOBAL_SERVICES = {"iam", "route53"}
READ_ANY = ("Describe", "List")  # of a NAMED service: lists without a name filter are checked against "*"
READ_ANY_REASON = "Describe and List calls of handlers are checked against the whole account; read-only"
# ...except S3's, which name a bucket, and s3:ListBucket on "*" would list the keys of every bucket.
READ_NAMED_SERVICES = {"s3"}

# Actions of NAMED services that accept no ARN of theirs.
ANY_RESOURCE_ACTIONS: dict[str, str] = {
    "cloudwatch:GetMetricData": "reads metrics, which have no ARN; the 'dataset' type the catalogue names is "
                                "not a resource these stacks make",
}

# Listed by a schema, denied on purpose (rules.DENY_STATEMENTS): the Role handler calls it only when a template
# takes a role's boundary away.
DENIED_ACTIONS: dict[str, str] = {
    "iam:DeleteRolePermissionsBoundary": "a role without the boundary could be given anything",
}

# Listed by a schema but not IAM actions (cfn-lint's catalogue does not know them): IAM would reject or
# ignore them. What the handler does with them is authorized by the action named.
UNKNOWN_ACTIONS: dict[str, str] = {
    "payments:GetConnectedAccount": "not an IAM action in cfn-lint's catalogue (AWS::WAFv2::WebACL lists it)",
    "s3:DeleteBucketAnalyticsConfiguration": "authorized by s3:PutAnalyticsConfiguration",
    "s3:DeleteBucketCors": "authorized by s3:PutBucketCORS",
    "s3:DeleteBucketEncryption": "authorized by s3:PutEncryptionConfiguration",
    "s3:DeleteBucketLifecycle": "authorized by s3:PutLifecycleConfiguration",
    "s3:DeleteBucketMetricsConfiguration": "authorized by s3:PutMetricsConfiguration",
    "s3:DeleteBucketReplication": "authorized by s3:PutReplicationConfiguration",
    "s3:PutBucketReplication": "authorized by s3:PutReplicationConfiguration",
    "s3:PutObjectLockConfiguration": "authorized by s3:PutBucketObjectLockConfiguration",
    "s3:REST.PUT.OBJECT": "an S3 access log operation name, not an action",
    "lambda:AssociateRuntimeAlias": "not an IAM action in cfn-lint's catalogue (AWS::Lambda::Function lists it)",
    "iam:DescribeOrganization": "not an IAM action (AWS::WAFv2::LoggingConfiguration lists it, for Firewall "
                                "Manager's logging, which these stacks do not use)",
}


@dataclass(frozen=True)
class NotNeeded:
    """Permissions a handler lists for a feature these templates do not use: dropped only for a resource whose
    properties show the feature is off (`unused`), so a template that turns it on gets them back."""

    resource_type: str
    actions: frozenset[str]
    unused: Callable[[dict], bool]
    reason: str


def _refers_to_load_balancer(properties: dict, resources: dict) -> bool:
    target = properties.get("ResourceArn", {})
    logical_id = target.get("Ref") if isinstance(target, dict) else None
    return resources.get(logical_id, {}).get("Type") == "AWS::ElasticLoadBalancingV2::LoadBalancer"


def _no_cognito_action(properties: dict) -> bool:
    actions = properties.get("DefaultActions", []) + properties.get("Actions", [])
    return all(action.get("Type") != "authenticate-cognito" for action in actions)


# `unused(properties, resources)`: resources is the template's Resources, for references.
NOT_NEEDED: list[NotNeeded] = [
    NotNeeded("AWS::IAM::Policy", frozenset({
        "iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:GetUserPolicy",
        "iam:PutGroupPolicy", "iam:DeleteGroupPolicy", "iam:GetGroupPolicy"}),
        lambda props, _: not props.get("Users") and not props.get("Groups"),
        "inline policies on users or groups: these stacks attach policies to roles only, and a policy on a "
        "user would escape the roles' permissions boundary"),
    NotNeeded("AWS::WAFv2::WebACLAssociation", frozenset({
        "amplify:AssociateWebACL", "amplify:DisassociateWebACL", "amplify:GetWebACLForResource",
        "apigateway:SetWebACL", "apprunner:AssociateWebAcl", "apprunner:DescribeWebAclForService",
        "apprunner:DisassociateWebAcl", "appsync:AssociateWebACL", "appsync:DisassociateWebACL",
        "appsync:GetWebACLForResource", "appsync:SetWebACL", "bedrock-agentcore:GatewayAssociateWebACL",
        "bedrock-agentcore:GatewayDisassociateWebACL", "bedrock-agentcore:GatewayGetWebACLForResource",
        "cognito-idp:AssociateWebACL", "cognito-idp:DisassociateWebACL", "cognito-idp:GetWebACLForResource",
        "ec2:AssociateVerifiedAccessInstanceWebAcl", "ec2:DescribeVerifiedAccessInstanceWebAclAssociations",
        "ec2:DisassociateVerifiedAccessInstanceWebAcl", "ec2:GetVerifiedAccessInstanceWebAcl"}),
        _refers_to_load_balancer,
        "associating a web ACL with something other than a load balancer"),
    NotNeeded("AWS::ApplicationAutoScaling::ScalableTarget", frozenset({
        "lambda:PutProvisionedConcurrencyConfig", "lambda:GetProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig"}),
        lambda props, _: props.get("ServiceNamespace") != "lambda",
        "scaling a Lambda function's provisioned concurrency; these targets scale ECS services"),
    NotNeeded("AWS::S3::Bucket", frozenset({
        "s3:CreateBucketMetadataTableConfiguration", "s3:DeleteBucketMetadataTableConfiguration",
        "s3:GetBucketMetadataTableConfiguration", "s3:UpdateBucketMetadataAnnotationTableConfiguration",
        "s3:UpdateBucketMetadataInventoryTableConfiguration", "s3:UpdateBucketMetadataJournalTableConfiguration",
        "s3tables:CreateNamespace", "s3tables:CreateTable", "s3tables:CreateTableBucket", "s3tables:GetTable",
        "s3tables:GetTableMetadataLocation", "s3tables:PutTableBucketPolicy", "s3tables:PutTableEncryption",
        "s3tables:PutTablePolicy", "s3tables:UpdateTableMetadataLocation"}),
        lambda props, _: "MetadataTableConfiguration" not in props and "MetadataConfiguration" not in props,
        "S3 Metadata tables (S3 Tables), which the access log bucket does not configure"),
    NotNeeded("AWS::ElasticLoadBalancingV2::Listener", frozenset({"cognito-idp:DescribeUserPoolClient"}),
              lambda props, _: _no_cognito_action(props), "Cognito authentication actions"),
    NotNeeded("AWS::ElasticLoadBalancingV2::ListenerRule", frozenset({"cognito-idp:DescribeUserPoolClient"}),
              lambda props, _: _no_cognito_action(props), "Cognito authentication actions"),
    NotNeeded("AWS::CertificateManager::Certificate", frozenset({"acm-pca:GetCertificate",
                                                                 "acm-pca:IssueCertificate"}),
              lambda props, _: "CertificateAuthorityArn" not in props, "private certificates from ACM PCA"),
    NotNeeded("AWS::EC2::VPCGatewayAttachment", frozenset({"ec2:AttachVpnGateway", "ec2:DetachVpnGateway",
                                                           "ec2:DescribeVpnGateways"}),
              lambda props, _: "VpnGatewayId" not in props, "attaching a VPN gateway"),
    # The release gate (blue/green) is a plain function: its code from CDK's asset bucket, no signing, layers,
    # file systems, capacity provider or key of its own.
    NotNeeded("AWS::Lambda::Function", frozenset({
        "lambda:GetCodeSigningConfig", "lambda:PutFunctionCodeSigningConfig"}),
        lambda props, _: "CodeSigningConfigArn" not in props, "code signing"),
    NotNeeded("AWS::Lambda::Function", frozenset({"lambda:GetLayerVersion"}),
              lambda props, _: "Layers" not in props, "layers"),
    NotNeeded("AWS::Lambda::Function", frozenset({"elasticfilesystem:DescribeMountTargets",
                                                  "s3files:ListMountTargets"}),
              lambda props, _: "FileSystemConfigs" not in props, "file systems mounted in the function"),
    NotNeeded("AWS::Lambda::Function", frozenset({"lambda:PassCapacityProvider"}),
              lambda props, _: "CapacityProviderConfig" not in props, "Lambda Managed Instances"),
    NotNeeded("AWS::Lambda::Function", frozenset({"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
                                                  "kms:Encrypt", "kms:GenerateDataKey"}),
              lambda props, _: "KmsKeyArn" not in props, "a key of its own for the environment variables"),
]

# (appended to NOT_NEEDED below)
def _logs_to_cloudwatch_only(properties: dict) -> bool:
    destinations = properties.get("LogDestinationConfigs", [])
    return bool(destinations) and all(":logs:" in json.dumps(destination) for destination in destinations)


NOT_NEEDED.append(NotNeeded(
    "AWS::WAFv2::LoggingConfiguration", frozenset({"firehose:ListDeliveryStreams", "s3:PutBucketPolicy",
                                                   "s3:GetBucketPolicy", "iam:CreateServiceLinkedRole"}),
    lambda props, _: _logs_to_cloudwatch_only(props),
    "logging to Firehose (its service-linked role) or to S3 (a bucket policy): WAF logs to CloudWatch Logs here"))

# The IAM actions that make or widen a role's permissions: allowed only with the role boundary on the role.
BOUNDED_ROLE_ACTIONS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                        "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary")
# iam:PassRole: the app's roles, to the services that use them (tasks, the ECS blue/green infrastructure
# role, VPC flow logs).
PASS_ROLE_TO = ["ecs-tasks.amazonaws.com", "ecs.amazonaws.com", "vpc-flow-logs.amazonaws.com",
                "events.amazonaws.com", "states.amazonaws.com", "lambda.amazonaws.com"]
# iam:CreateServiceLinkedRole: only the roles AWS defines for the services these stacks use.
SERVICE_LINKED_ROLES_FOR = ["ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com",
                            "elasticloadbalancing.amazonaws.com", "pullthroughcache.ecr.amazonaws.com"]

CDK_ROLES = f"arn:{P}:iam::{A}:role/cdk-{BOOTSTRAP_QUALIFIER}-*"
BOOTSTRAP_POLICIES = f"arn:{P}:iam::{A}:policy/{POLICY_PREFIX}-*"
# Explicit denies, stronger than any Allow another policy might add to the execution role.
DENY_STATEMENTS: list[dict] = [
    {"Sid": "DenyRemovingBoundaries", "Effect": "Deny",
     "Action": ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"], "Resource": "*"},
    {"Sid": "DenyEditingBootstrapPolicies", "Effect": "Deny",
     "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy"],
     "Resource": BOOTSTRAP_POLICIES},
    {"Sid": "DenyEditingBootstrapRoles", "Effect": "Deny",
     "Action": ["iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"],
     "Resource": CDK_ROLES},
    {"Sid": "DenyUsersAndKeys", "Effect": "Deny",
     "Action": ["iam:AddUserToGroup", "iam:AttachGroupPolicy", "iam:AttachUserPolicy", "iam:CreateAccessKey",
                "iam:CreateGroup", "iam:CreateLoginProfile", "iam:CreateUser", "iam:PutGroupPolicy",
                "iam:PutUserPermissionsBoundary", "iam:PutUserPolicy", "iam:UpdateLoginProfile"],
     "Resource": "*"},
    {"Sid": "DenyRolesWithoutBoundary", "Effect": "Deny", "Action": list(BOUNDED_ROLE_ACTIONS),
     "Resource": "*", "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": ROLE_BOUNDARY_ARN}}},
]
