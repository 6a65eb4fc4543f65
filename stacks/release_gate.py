"""Blue/green's release gate: the Lambda function ECS calls after it has pointed the test listener at the new
tasks and before production traffic moves (POST_TEST_TRAFFIC_SHIFT). The function (services/release_gate) sends a
bounded series of requests through the test listener and fails the deployment, which ECS then rolls back, on a
wrong answer, an error, or a p99 latency above the limit.

It runs in the VPC's private subnets: its requests leave through the NAT gateways, whose addresses the load
balancer's test listener admits (stacks/load_balancer.py). Its role may write its own log group and manage the
network interfaces a function in a VPC needs, nothing else; the role ECS assumes to call it may only invoke it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_control
from stacks.log_groups import StackLogs

CODE = Path(__file__).resolve().parents[1] / "services" / "release_gate"
# gate.py refuses a configuration whose requests could outlast 100 s (gate_requests <= 50 of at most 2 s each);
# Lambda's limit stays above it, so that the gate, not a timeout, decides and logs.
TIMEOUT_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 2
# What a function in a VPC needs for its network interfaces (AWS's AWSLambdaVPCAccessExecutionRole, inline).
VPC_ACCESS_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                      "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")


@dataclass(frozen=True)
class GateChecks:
    """What the gate asks of the new tasks (the settings' gate_*)."""

    url: str
    requests: int
    p99_ms: int
    expect_body: str
    login_required: bool


class ReleaseGate(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, test_port: int, checks: GateChecks,
                 stack_logs: StackLogs) -> None:
        super().__init__(scope, construct_id)
        self.log_group = stack_logs.group(self, "Logs")
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Release gate: out to the test listener of the load balancer only (through the NAT gateways)")
        # The load balancer's public addresses are not known at synth: the port is what is narrowed.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(test_port),
                                            "The test listener, at the load balancer's public addresses")

        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="Release gate: its own log group and its network interfaces, nothing else")
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                               resources=[self.log_group.log_group_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=list(VPC_ACCESS_ACTIONS), resources=["*"]))
        acknowledge(role, "IAM5[Resource::*]", "A function in a VPC creates and removes its network interfaces; "
                    "EC2 grants these actions on no narrower resource (AWS's AWSLambdaVPCAccessExecutionRole).")
        acknowledge(role, f"IAM5[Resource::<{Stack.of(self).get_logical_id(self.log_group.node.default_child)}"
                    ".Arn>:*]", "Its log streams: one log group, the function's own.")

        self.function = lambda_.Function(
            self, "Function", runtime=lambda_.Runtime.PYTHON_3_14, handler="gate.handler",
            code=lambda_.Code.from_asset(str(CODE), exclude=["__pycache__"]),
            role=role, log_group=self.log_group, timeout=Duration.seconds(TIMEOUT_SECONDS), memory_size=256,
            vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.security_group],
            description="Blue/green release gate: the new tasks through the test listener, before production",
            environment={
                "GATE_URL": checks.url, "GATE_REQUESTS": str(checks.requests), "GATE_P99_MS": str(checks.p99_ms),
                "GATE_EXPECT_BODY": checks.expect_body, "GATE_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS),
                "GATE_AUTH_REQUIRED": "true" if checks.login_required else "false",
            },
        )

        acknowledge_control(self.function, "LambdaDLQ", "ECS calls the gate synchronously and reads its answer; a "
                            "dead-letter queue only ever receives failed asynchronous invocations.")
        acknowledge_control(self.function, "LambdaConcurrency", "One call per deployment, and ECS deploys a service "
                            "one deployment at a time. Reserving concurrency would fail to deploy in accounts whose "
                            "concurrency quota is AWS's minimum for new accounts, where none may be reserved.")

    def attach(self, service: ecs.BaseService) -> None:
        """The lifecycle hook on `service`: ECS assumes the hook's role, which may only invoke this function (and
        its versions, which is what the `:*` after the function's ARN covers). The role is made here, not left to
        the hook target, which would make it late in synthesis, after the permissions boundary is applied."""
        hook_role = iam.Role(self, "HookRole", assumed_by=iam.ServicePrincipal("ecs.amazonaws.com"),
                             description="ECS's blue/green lifecycle hook: invoke the release gate, nothing else")
        self.function.grant_invoke(hook_role)
        service.add_lifecycle_hook(ecs.DeploymentLifecycleLambdaTarget(
            self.function, "ReleaseGateHook", role=hook_role,
            lifecycle_stages=[ecs.DeploymentLifecycleStage.POST_TEST_TRAFFIC_SHIFT]))
        function = Stack.of(self).get_logical_id(self.function.node.default_child)
        acknowledge(hook_role, f"IAM5[Resource::<{function}.Arn>:*]", "ECS's hook role invokes the release gate "
                    "function; the :* covers that one function's versions.")
