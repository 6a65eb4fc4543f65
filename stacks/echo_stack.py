"""The echo/nginx service stack: composes the network, task, load balancer and service; exports outputs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from settings import Settings
from stacks.echo_service import EchoService
from stacks.echo_task import EchoTask
from stacks.load_balancer import PublicLoadBalancer, TargetHealthCheck
from stacks.network import Network


class EchoServiceStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(scope, construct_id, termination_protection=settings.termination_protection, **kwargs)
        Tags.of(self).add("project", "echo-fargate")
        Tags.of(self).add("environment", settings.env)

        network = Network(self, "Network", max_azs=settings.max_azs, nat_gateways=settings.nat_gateways,
                          vpc_id=settings.vpc_id)
        task = EchoTask(
            self, "Task", cpu=settings.cpu, memory=settings.memory, image_source=settings.image_source,
            echo_image=settings.echo_image, nginx_image=settings.nginx_image, image_tag=settings.image_tag,
            backend_host=settings.backend_host,
            log_retention_days=settings.log_retention_days, retain_logs=settings.retain_logs,
        )
        entrance = PublicLoadBalancer(
            self, "LoadBalancer", vpc=network.vpc, ingress_cidrs=settings.ingress_cidrs,
            health_check=TargetHealthCheck(
                path=settings.target_health_check_path,
                success_codes=settings.health_check_success_codes,
                interval=settings.health_check_interval,
                timeout=settings.health_check_timeout,
                healthy_threshold=settings.healthy_threshold,
                unhealthy_threshold=settings.unhealthy_threshold,
                deregistration_delay=settings.deregistration_delay,
            ),
        )
        service = EchoService(
            self, "Service", vpc=network.vpc, task=task, load_balancer=entrance,
            desired_count=settings.desired_count, task_subnets=settings.task_subnets,
            health_check_grace_period=settings.health_check_grace_period, cluster_name=settings.cluster_name,
        )

        CfnOutput(self, "ServiceUrl", value=entrance.url, description="URL of the echo service")
        CfnOutput(self, "ClusterName", value=service.cluster.cluster_name, description="ECS cluster")
        CfnOutput(self, "ServiceName", value=service.service.service_name, description="ECS service")
        for container, log_group in task.log_groups.items():
            CfnOutput(self, f"{container.capitalize()}LogGroup", value=log_group.log_group_name,
                      description=f"CloudWatch log group of the {container} container")
