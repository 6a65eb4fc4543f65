"""The Fargate task: the `echo` app and the `nginx` proxy in front of it, sharing the task's localhost."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.compliance import acknowledge

TASK_FAMILY = "echo-task"
ECHO_CONTAINER, ECHO_PORT = "echo", 8080
NGINX_CONTAINER, NGINX_PORT = "nginx", 80

# CDK names CloudWatch's retention periods; settings speak in days.
_RETENTION_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}


class EchoTask(Construct):
    """Task definition, its two containers and one log group per container."""

    def __init__(self, scope: Construct, construct_id: str, *, cpu: int, memory: int, echo_image: str,
                 nginx_image: str, backend_host: str, log_retention_days: int, retain_logs: bool) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY

        self.task_definition = ecs.FargateTaskDefinition(
            self, "TaskDefinition", family=TASK_FAMILY, cpu=cpu, memory_limit_mib=memory
        )
        self.log_groups: dict[str, logs.LogGroup] = {
            name: logs.LogGroup(
                self, f"{name.capitalize()}Logs",
                retention=_RETENTION_BY_DAYS[log_retention_days], removal_policy=removal,
            )
            for name in (ECHO_CONTAINER, NGINX_CONTAINER)
        }

        self.echo = self.task_definition.add_container(
            ECHO_CONTAINER,
            image=ecs.ContainerImage.from_registry(echo_image),
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=ECHO_PORT, name=ECHO_CONTAINER)],
            logging=self._logs(ECHO_CONTAINER),
        )
        self.nginx = self.task_definition.add_container(
            NGINX_CONTAINER,
            image=ecs.ContainerImage.from_registry(nginx_image),
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=NGINX_PORT, name=NGINX_CONTAINER)],
            # In awsvpc mode the task's containers share one network namespace: echo is on localhost.
            environment={"BACKEND_HOST": backend_host},
            logging=self._logs(NGINX_CONTAINER),
        )
        acknowledge(self.task_definition, "ECS2", "The only variable is BACKEND_HOST, an address on the task's own "
                    "localhost; secrets would come from Secrets Manager, and there are none.")
        # The public images have no health command, so nginx can only wait for echo to have started.
        self.nginx.add_container_dependencies(
            ecs.ContainerDependency(container=self.echo, condition=ecs.ContainerDependencyCondition.START)
        )

    def _logs(self, container: str) -> ecs.LogDriver:
        return ecs.LogDrivers.aws_logs(stream_prefix=container, log_group=self.log_groups[container])

