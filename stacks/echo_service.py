"""The ECS cluster and the Fargate service that keeps the echo task running behind the load balancer."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.echo_task import NGINX_CONTAINER, NGINX_PORT, EchoTask
from stacks.load_balancer import HTTPS_PORT, PublicLoadBalancer


@dataclass(frozen=True)
class Capacity:
    """How many tasks run, on what, and how they deploy."""

    desired_count: int
    min_tasks: int | None = None  # with max_tasks: autoscaling instead of a fixed desired_count
    max_tasks: int | None = None
    scale_cpu_percent: int = 60
    scale_requests_per_task: int = 1000
    spot_percent: int = 0
    blue_green: bool = False
    bake_time_minutes: int = 5


class EchoService(Construct):
    """Deploys that never drop below the desired count and roll back a task that cannot start."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, task: EchoTask,
                 load_balancer: PublicLoadBalancer, capacity: Capacity, task_subnets: str,
                 health_check_grace_period: int, cluster_name: str | None, container_insights: bool = False,
                 enable_exec: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, cluster_name=cluster_name, enable_fargate_capacity_providers=True,
            container_insights_v2=ecs.ContainerInsights.ENABLED if container_insights
            else ecs.ContainerInsights.DISABLED,
        )
        if not container_insights:
            acknowledge(self.cluster, "ECS4", "Container Insights is billed per metric and switched off with "
                        "container_insights=false; the service's CPU and memory metrics and alarms remain.")

        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Echo tasks: HTTP from the load balancer only; HTTPS out for image pulls and logs",
        )
        # Registries, CloudWatch Logs and SSM (ECS Exec) are reached over HTTPS; DNS goes to the VPC resolver,
        # which security groups do not filter.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "HTTPS to image registries and CloudWatch Logs"
        )

        public = task_subnets == "public"
        self.service = ecs.FargateService(
            self, "Service",
            cluster=self.cluster,
            task_definition=task.task_definition,
            # With autoscaling the count belongs to the scaler: leaving it out of the template keeps a deploy
            # from resetting it (FargateService writes no DesiredCount when given none).
            desired_count=None if capacity.min_tasks is not None else capacity.desired_count,
            security_groups=[self.security_group],
            assign_public_ip=public,
            vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PUBLIC if public else ec2.SubnetType.PRIVATE_WITH_EGRESS
            ),
            capacity_provider_strategies=_capacity_providers(capacity.spot_percent),
            # Start the new task before stopping the old one: capacity never drops during a deploy.
            min_healthy_percent=100,
            max_healthy_percent=200,
            # Without it a task that never gets healthy keeps CloudFormation waiting for hours.
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(health_check_grace_period),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_execute_command=enable_exec,
            deployment_strategy=ecs.DeploymentStrategy.BLUE_GREEN if capacity.blue_green
            else ecs.DeploymentStrategy.ROLLING,
            bake_time=Duration.minutes(capacity.bake_time_minutes) if capacity.blue_green else None,
        )
        if enable_exec:
            acknowledge(task.task_definition, "IAM5[Resource::*]", "ECS Exec's ssmmessages channel actions "
                        "have no resource-level permissions.")

        # Name the container: left alone, ECS would register the first essential container (echo on 8080).
        alternate = None
        if capacity.blue_green:
            alternate = ecs.AlternateTarget(
                "AlternateTarget", alternate_target_group=load_balancer.alternate_target_group,
                production_listener=ecs.ListenerRuleConfiguration.application_listener_rule(
                    load_balancer.production_rule),
                # ECS points this rule at the new tasks first: the release gate tests them through it.
                test_listener=ecs.ListenerRuleConfiguration.application_listener_rule(load_balancer.test_rule),
            )
            acknowledge(self.service, "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                        "AmazonECSInfrastructureRolePolicyForLoadBalancers]", "The role ECS uses to shift traffic "
                        "between target groups: AWS maintains this policy for exactly that and keeps it current.")
        target = self.service.load_balancer_target(container_name=NGINX_CONTAINER, container_port=NGINX_PORT,
                                                   alternate_target=alternate)
        target.attach_to_application_target_group(load_balancer.target_group)
        self.service.connections.allow_from(
            load_balancer.security_group, ec2.Port.tcp(NGINX_PORT), "HTTP from the load balancer"
        )

        if capacity.min_tasks is not None:
            scaling = self.service.auto_scale_task_count(min_capacity=capacity.min_tasks,
                                                         max_capacity=capacity.max_tasks)
            scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=capacity.scale_cpu_percent)
            if not capacity.blue_green:
                # Requests per target names one target group; blue/green moves the traffic between two, so
                # there the CPU target tracks the load alone.
                scaling.scale_on_request_count("Requests", requests_per_target=capacity.scale_requests_per_task,
                                               target_group=load_balancer.target_group)


def _capacity_providers(spot_percent: int) -> list[ecs.CapacityProviderStrategy]:
    strategies = []
    if spot_percent < 100:
        strategies.append(ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=100 - spot_percent,
                                                       base=1 if spot_percent else 0))
    if spot_percent > 0:
        strategies.append(ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=spot_percent))
    return strategies
