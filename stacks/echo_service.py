"""The ECS cluster and the Fargate service that keeps the echo task running behind the load balancer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.echo_task import NGINX_CONTAINER, NGINX_PORT, EchoTask
from stacks.load_balancer import PublicLoadBalancer

HTTPS_PORT = 443


class EchoService(Construct):
    """Rolling deploys that never drop below the desired count and roll back a task that cannot start."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, task: EchoTask,
                 load_balancer: PublicLoadBalancer, desired_count: int, task_subnets: str,
                 health_check_grace_period: int, cluster_name: str | None) -> None:
        super().__init__(scope, construct_id)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, cluster_name=cluster_name)
        acknowledge(self.cluster, "ECS4", "Container Insights is billed per metric; it becomes a setting with the "
                    "production monitoring profile (a later issue). Service CPU and memory metrics are on already.")

        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Echo tasks: HTTP from the load balancer only; HTTPS out for image pulls and logs",
        )
        # Registries and CloudWatch Logs are reached over HTTPS; DNS goes to the VPC resolver, which
        # security groups do not filter.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "HTTPS to image registries and CloudWatch Logs"
        )

        public = task_subnets == "public"
        self.service = ecs.FargateService(
            self, "Service",
            cluster=self.cluster,
            task_definition=task.task_definition,
            desired_count=desired_count,
            security_groups=[self.security_group],
            assign_public_ip=public,
            vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PUBLIC if public else ec2.SubnetType.PRIVATE_WITH_EGRESS
            ),
            # Start the new task before stopping the old one: capacity never drops during a deploy.
            min_healthy_percent=100,
            max_healthy_percent=200,
            # Without it a task that never gets healthy keeps CloudFormation waiting for hours.
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(health_check_grace_period),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        # Name the container: left alone, ECS would register the first essential container (echo on 8080).
        load_balancer.target_group.add_target(
            self.service.load_balancer_target(container_name=NGINX_CONTAINER, container_port=NGINX_PORT)
        )
        self.service.connections.allow_from(
            load_balancer.security_group, ec2.Port.tcp(NGINX_PORT), "HTTP from the load balancer"
        )
