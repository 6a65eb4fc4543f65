"""The echo/nginx service stack: composes the network, task, load balancer, service, their hardening and
monitoring; exports the outputs.

The constructs of optional features (HTTPS, WAF, monitoring, the redeploy on a secret's change) are imported
where they are used: each pulls in aws-cdk-lib modules whose import every synth without the feature would pay
for (0.2 s of dev's synth, docs/testing.md).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from settings import Settings
from stacks.access_logs import AccessLogBucket
from stacks.compliance import acknowledge_control
from stacks.echo_service import Capacity, EchoService
from stacks.echo_task import EchoTask
from stacks.load_balancer import PublicLoadBalancer, TargetHealthCheck, TestListener
from stacks.log_groups import StackLogs
from stacks.network import Network


class EchoServiceStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(scope, construct_id, termination_protection=settings.termination_protection, **kwargs)
        Tags.of(self).add("project", "echo-fargate")
        Tags.of(self).add("environment", settings.env)

        stack_logs = StackLogs(self, "Logs", retention_days=settings.log_retention_days, retain=settings.retain_logs,
                               kms_key=settings.log_kms_key)
        network = Network(self, "Network", max_azs=settings.max_azs, nat_gateways=settings.nat_gateways,
                          vpc_id=settings.vpc_id, stack_logs=stack_logs, flow_logs=settings.flow_logs)
        task = EchoTask(
            self, "Task", cpu=settings.cpu, memory=settings.memory, image_source=settings.image_source,
            echo_image=settings.echo_image, nginx_image=settings.nginx_image, image_tag=settings.image_tag,
            backend_host=settings.backend_host, cpu_architecture=settings.cpu_architecture,
            stack_logs=stack_logs, enable_exec=settings.enable_exec, app_environment=settings.echo_environment,
            secret_sources=settings.secret_sources, secrets_kms_key_arn=settings.secrets_kms_key_arn,
            basic_auth_source=settings.basic_auth_source,
        )
        tls = None
        if settings.https:
            from stacks.tls import ServiceCertificate

            tls = ServiceCertificate(self, "Tls", certificate_arn=settings.certificate_arn,
                                     domain_name=settings.domain_name, hosted_zone_name=settings.hosted_zone_name)
        access_logs = AccessLogBucket(self, "AccessLogs", expire_after_days=settings.log_retention_days) \
            if settings.access_logs else None
        blue_green = settings.deployment_strategy == "blue_green"
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
            certificate=tls.certificate if tls else None,
            blue_green=blue_green,
            test_listener=TestListener(port=settings.test_port, ingress_cidrs=settings.test_ingress_cidrs,
                                       gate_addresses=network.nat_public_ips) if blue_green else None,
            access_logs_bucket=access_logs.bucket if access_logs else None,
            deletion_protection=settings.termination_protection,
        )
        if tls:
            tls.add_alias(entrance.load_balancer)
        if settings.waf:
            from stacks.web_firewall import WebFirewall

            WebFirewall(self, "WebFirewall", load_balancer=entrance.load_balancer,
                        rate_limit=settings.waf_rate_limit, stack_logs=stack_logs)
        else:
            acknowledge_control(entrance.load_balancer, "ALBWAFEnabled", "AWS WAF (about $9 a month and $0.60 per "
                                "million requests) is prod's (waf=true); dev is its team's own environment, and "
                                "ingress_cidrs narrows who may reach it.")
        service = EchoService(
            self, "Service", vpc=network.vpc, task=task, load_balancer=entrance,
            capacity=Capacity(
                desired_count=settings.desired_count, min_tasks=settings.min_tasks, max_tasks=settings.max_tasks,
                scale_cpu_percent=settings.scale_cpu_percent,
                scale_requests_per_task=settings.scale_requests_per_task, spot_percent=settings.spot,
                blue_green=blue_green,
                bake_time_minutes=settings.bake_time_minutes,
            ),
            task_subnets=settings.task_subnets, health_check_grace_period=settings.health_check_grace_period,
            cluster_name=settings.cluster_name, container_insights=settings.container_insights,
            enable_exec=settings.enable_exec,
        )
        if blue_green:
            from stacks.release_gate import GateChecks, ReleaseGate

            # The certificate is for domain_name: the gate asks for that name on the test port.
            url = f"https://{settings.domain_name}:{settings.test_port}/" if settings.https else entrance.test_url
            gate = ReleaseGate(self, "ReleaseGate", vpc=network.vpc, test_port=settings.test_port,
                               checks=GateChecks(url=url, requests=settings.gate_requests, p99_ms=settings.gate_p99_ms,
                                                 expect_body=settings.gate_expect_body,
                                                 login_required=bool(settings.basic_auth_secret)),
                               stack_logs=stack_logs)
            gate.attach(service.service)
        monitoring = None
        if settings.monitoring:
            from stacks.monitoring import ServiceMonitoring

            monitoring = ServiceMonitoring(self, "Monitoring", service=service.service,
                                           load_balancer=entrance.load_balancer, target_group=entrance.target_group,
                                           alarm_email=settings.alarm_email,
                                           alternate_target_group=entrance.alternate_target_group)
            # A release that trips these alarms is rolled back by ECS, as the circuit breaker does for crashes.
            alarms = monitoring.deployment_alarm_config()
            service.service.enable_deployment_alarms(alarms.alarm_names, behavior=alarms.behavior)

        sources = [*settings.secret_sources.values(), *filter(None, [settings.basic_auth_source])]
        if settings.redeploy_on_secret_change and sources:  # ECS reads secrets only when a task starts
            from stacks.secret_redeploy import SecretChangeRedeploy

            SecretChangeRedeploy(self, "SecretChangeRedeploy", sources=sources, service=service.service,
                                 alarm_topic=monitoring.topic if monitoring else None)

        url = f"https://{settings.domain_name}" if settings.domain_name else entrance.url
        CfnOutput(self, "ServiceUrl", value=url, description="URL of the echo service")
        CfnOutput(self, "ClusterName", value=service.cluster.cluster_name, description="ECS cluster")
        CfnOutput(self, "ServiceName", value=service.service.service_name, description="ECS service")
        if settings.basic_auth_secret:  # where the logins live (not their value); make verify expects a 401
            CfnOutput(self, "BasicAuthSecret", value=settings.basic_auth_secret,
                      description="SSM parameter or secret holding the htpasswd lines nginx asks for")
        if monitoring:
            CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn, description="SNS topic of the alarms")
        for container, log_group in task.log_groups.items():
            CfnOutput(self, f"{container.capitalize()}LogGroup", value=log_group.log_group_name,
                      description=f"CloudWatch log group of the {container} container")
