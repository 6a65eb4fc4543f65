"""The permissions boundary of the app's roles: exactly the actions their policies grant, in every variant,
on the ARNs those policies name (as patterns), so a role a template makes can never be worth more."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bootstrap import rules, schemas
from bootstrap.documents import document
from stacks.ci_access import BOOTSTRAP_QUALIFIER
from stacks.registry import DOCKER_HUB_CACHE_PREFIX

P, R, A, Q = rules.P, rules.R, rules.A, BOOTSTRAP_QUALIFIER

# AWS managed policies the app attaches, with their actions as AWS publishes them (AWS Managed Policy
# Reference, AmazonECSInfrastructureRolePolicyForLoadBalancers, v2 of 2025-07-25). A new version may add
# actions: the role then lacks them, as the boundary would cut them.
MANAGED_POLICY_ACTIONS: dict[str, list[str]] = {
    "AmazonECSInfrastructureRolePolicyForLoadBalancers": [
        "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
    ],
    # CDK's custom resource handlers (restrict_default_security_group): their own logs (AWS Managed Policy
    # Reference, AWSLambdaBasicExecutionRole).
    "AWSLambdaBasicExecutionRole": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
}

# Service -> the ARNs the app's role policies name, as patterns.
BOUNDARY_ARNS: dict[str, list[str]] = {
    # the two repositories, CDK's asset repository for image_source=build, and the Docker Hub cache's (the CI
    # push role pulls base images through it)
    "ecr": [f"arn:{P}:ecr:{R}:{A}:repository/echo-fargate/*",
            f"arn:{P}:ecr:{R}:{A}:repository/cdk-{Q}-container-assets-*",
            f"arn:{P}:ecr:{R}:{A}:repository/{DOCKER_HUB_CACHE_PREFIX}/*"],
    # the CI deploy roles hand CDK's CloudFormation execution role to CloudFormation, no other role
    "iam": [f"arn:{P}:iam::{A}:role/cdk-{Q}-cfn-exec-role-*"],
    # the app's log groups, and those of CDK's custom resource handlers (/aws/lambda/STACK-...)
    "logs": [f"arn:{P}:logs:{R}:{A}:log-group:{rules.PREFIX}*",
             f"arn:{P}:logs:{R}:{A}:log-group:/aws/lambda/{rules.PREFIX}*"],
    # the CI deploy roles assume CDK's file publishing role, no role but CDK's bootstrap ones
    "sts": [f"arn:{P}:iam::{A}:role/cdk-{Q}-*"],
    "cloudformation": [f"arn:{P}:cloudformation:{R}:{A}:stack/{rules.PREFIX}*/*",
                       f"arn:{P}:cloudformation:{R}:{A}:stack/CDKToolkit/*"],
    # CDK's bootstrap version (the CI diff role), and the application's own parameters (`secrets`): which
    # ones is the execution role's policy; the boundary only keeps it to this account's parameters.
    "ssm": [f"arn:{P}:ssm:{R}:{A}:parameter/*"],
    # The application's secrets (`secrets`), this account's only; the execution role names each one.
    "secretsmanager": [f"arn:{P}:secretsmanager:{R}:{A}:secret:*"],
    # Decrypting them with `secrets_kms_key_arn`, a key of this account (the role names that key).
    "kms": [f"arn:{P}:kms:{R}:{A}:key/*"],
    # redeploy_on_secret_change: the state machine forces a deployment of the service (service/CLUSTER/NAME,
    # the cluster's name carries the stack's), and the rules' role starts that state machine; the CI deploy
    # roles read that service, its tasks (task/CLUSTER/ID) and, listing them, its cluster's container instances.
    "ecs": [f"arn:{P}:ecs:{R}:{A}:service/{rules.PREFIX}*", f"arn:{P}:ecs:{R}:{A}:task/{rules.PREFIX}*",
            f"arn:{P}:ecs:{R}:{A}:container-instance/{rules.PREFIX}*"],
    "states": [f"arn:{P}:states:{R}:{A}:stateMachine:{rules.PREFIX}*"],
    # ECS's blue/green infrastructure role shifts traffic on the load balancer, whose names are generated
    "elasticloadbalancing": ["*"],
    # blue/green's release gate: a function in the VPC manages its network interfaces (random ids, in subnets
    # and security groups of random ids), and ECS's hook role invokes that function (named after the stack)
    "ec2": [f"arn:{P}:ec2:{R}:{A}:network-interface/*", f"arn:{P}:ec2:{R}:{A}:subnet/*",
            f"arn:{P}:ec2:{R}:{A}:security-group/*"],
    "lambda": [f"arn:{P}:lambda:{R}:{A}:function:{rules.PREFIX}*"],
}


class UnknownRolePermission(Exception):
    pass


def _actions(statement: dict) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _managed_policy_name(arn: object) -> str:
    # CDK renders an AWS managed policy's ARN as Fn::Join of the partition and ":iam::aws:policy/NAME", or (for
    # its custom resource providers) as Fn::Sub of "arn:${AWS::Partition}:iam::aws:policy/NAME"
    if isinstance(arn, dict) and "Fn::Join" in arn:
        parts = arn["Fn::Join"][1]
    elif isinstance(arn, dict) and "Fn::Sub" in arn:
        parts = [arn["Fn::Sub"]]
    else:
        parts = [arn]
    text = "".join(part for part in parts if isinstance(part, str))
    if ":iam::aws:policy/" not in text:
        raise UnknownRolePermission(f"managed policy {arn}: not an AWS managed policy; list its actions")
    return text.rsplit("/", 1)[1]


def role_actions(templates: Iterable[dict]) -> set[str]:
    """Every action an Allow of a role policy in these templates names, managed policies included."""
    actions: set[str] = set()
    for template in templates:
        for resource in template.get("Resources", {}).values():
            properties = resource.get("Properties", {})
            documents = []
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(properties["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::Role":
                documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
                for arn in properties.get("ManagedPolicyArns", []):
                    name = _managed_policy_name(arn)
                    if name not in MANAGED_POLICY_ACTIONS:
                        raise UnknownRolePermission(f"{name}: list its actions in MANAGED_POLICY_ACTIONS")
                    actions.update(MANAGED_POLICY_ACTIONS[name])
            for doc in documents:
                for statement in doc["Statement"]:
                    if statement["Effect"] == "Allow":
                        actions.update(_actions(statement))
    return actions


def _sid(service: str, any_resource: bool) -> str:
    return "".join(part.capitalize() for part in service.split("-")) + ("AnyResource" if any_resource else "")


def boundary_document(actions: set[str]) -> dict:
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for action in actions:
        service = action.split(":", 1)[0]
        types = schemas.action_resource_types(action)
        if types is None or "*" in action:
            raise UnknownRolePermission(f"{action}: not an exact IAM action of cfn-lint's catalogue")
        if not types:  # no resource-level permissions: "*" is the only resource it takes
            grouped[(_sid(service, True), ("*",))].add(action)
        elif service in BOUNDARY_ARNS:
            grouped[(_sid(service, False), tuple(BOUNDARY_ARNS[service]))].add(action)
        else:
            raise UnknownRolePermission(f"{action}: name the ARNs of {service} in BOUNDARY_ARNS")
    return document([{"Sid": sid, "Effect": "Allow", "Action": sorted(names),
                      "Resource": list(resources) if len(resources) > 1 else resources[0]}
                     for (sid, resources), names in sorted(grouped.items())])
