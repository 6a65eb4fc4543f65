"""The Fargate task: the `echo` app and the `nginx` proxy in front of it, sharing the task's localhost."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from settings.app_config import SecretSource
from stacks.app_secrets import AppSecrets
from stacks.compliance import acknowledge
from stacks.container_images import container_images
from stacks.log_groups import StackLogs

TASK_FAMILY = "echo-task"
ECHO_CONTAINER, ECHO_PORT = "echo", 8080
NGINX_CONTAINER, NGINX_PORT = "nginx", 80
# nginx-proxy's only writable path (services/nginx-proxy/README.md): rendered config, pid, temp files.
NGINX_RUNTIME_DIR = "/tmp/nginx-proxy"
# The nginx-proxy variable that holds htpasswd lines (basic_auth_secret).
BASIC_AUTH_VARIABLE = "BASIC_AUTH_HTPASSWD"
# Inside this repository's images, without curl: echo asks its own /healthz; nginx answers /nginx-ping itself.
ECHO_HEALTH_COMMAND = ["CMD", "python", "-m", "echo_app.healthcheck"]
# (busybox wget: no -T, which crashes Debian's busybox; ECS's own timeout bounds the check.)
NGINX_HEALTH_COMMAND = [
    "CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:${LISTEN_PORT:-${SERVER_PORT:-80}}/nginx-ping || exit 1"
]
# Connections per nginx worker, clients and upstream alike (each proxied client holds both): 8192 serves 4096
# concurrent clients per worker. Set here rather than left to the image, whose default may differ.
NGINX_WORKER_CONNECTIONS = 8192
# Open files, both containers, soft = hard. Fargate's default for nofile is documented as 65535/65535 today
# (ECS API reference, Ulimit; CloudFormation AWS::ECS::TaskDefinition Ulimit), but earlier versions of the
# same pages said 1024 soft / 4096 hard and then 1024 / 65535: set it explicitly so nginx (WORKER_CONNECTIONS
# above, plus its logs) and echo (one descriptor per upstream connection) never depend on which applies.
NOFILE_LIMIT = 65535
NOFILE = ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=NOFILE_LIMIT, hard_limit=NOFILE_LIMIT)
# Where ECS Exec's agent (the SSM agent ECS bind-mounts into each container) writes: its binaries and config
# under /managed-agents, its state and its logs. AWS still documents ECS Exec as unsupported with
# readonlyRootFilesystem (ECS developer guide, "ECS Exec considerations"; containers-roadmap #2824 asks AWS to
# document these paths); the community workaround of containers-roadmap #1359, reported working again in
# amazon-ecs-exec-checker #71, is to mount exactly these three writable, which keeps the root read-only.
EXEC_AGENT_PATHS = ("/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm")
# The users the images run as (their Dockerfiles' USER), named in the task definition too: ECS then starts the
# containers as them whatever a future image says, and a scanner reading the template sees they are not root.
# tests/constructs/test_echo_task.py keeps these and the Dockerfiles in step.
IMAGE_USERS = {"echo": "10001:10001", "nginx": "101:101"}
# Hard memory limits: a leak in one container is stopped in that container (OOM-killed, restarted by ECS) instead
# of starving the other. nginx gets this much per worker, echo the rest of the task's memory. `make bench`
# measured nginx at 37 MiB (master and one worker, 2,000 keep-alive clients) against 41 MiB for echo.
NGINX_MEMORY_PER_WORKER_MIB = 128
# ECS Exec's agent runs inside each container and counts against its limit (about 40 MiB).
EXEC_AGENT_MEMORY_MIB = 64


def nginx_workers(cpu: int) -> int:
    """One nginx worker per task vCPU (make bench: a 0.25-vCPU task gains nothing from more)."""
    return max(1, cpu // 1024)


def container_memory(*, cpu: int, memory: int, enable_exec: bool) -> dict[str, int]:
    """Each container's hard limit (MiB); together they are the task's memory."""
    nginx = NGINX_MEMORY_PER_WORKER_MIB * nginx_workers(cpu) + (EXEC_AGENT_MEMORY_MIB if enable_exec else 0)
    return {"echo": memory - nginx, "nginx": nginx}

class EchoTask(Construct):
    """Task definition, its two containers and one log group per container."""

    def __init__(self, scope: Construct, construct_id: str, *, cpu: int, memory: int, image_source: str,
                 echo_image: str, nginx_image: str, image_tag: str | None, backend_host: str,
                 stack_logs: StackLogs, cpu_architecture: str = "x86_64",
                 enable_exec: bool = False, app_environment: Mapping[str, str] | None = None,
                 secret_sources: Mapping[str, SecretSource] | None = None,
                 secrets_kms_key_arn: str | None = None, basic_auth_source: SecretSource | None = None) -> None:
        super().__init__(scope, construct_id)
        own_images = image_source != "public"
        arm64 = cpu_architecture == "arm64"
        platform = ecr_assets.Platform.LINUX_ARM64 if arm64 else ecr_assets.Platform.LINUX_AMD64
        limits = container_memory(cpu=cpu, memory=memory, enable_exec=enable_exec)
        images = container_images(self, source=image_source, image_tag=image_tag, platform=platform,
                                  public={ECHO_CONTAINER: echo_image, NGINX_CONTAINER: nginx_image})

        self.task_definition = ecs.FargateTaskDefinition(
            self, "TaskDefinition", family=TASK_FAMILY, cpu=cpu, memory_limit_mib=memory,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.ARM64 if arm64 else ecs.CpuArchitecture.X86_64,
            ),
        )
        self.log_groups: dict[str, logs.LogGroup] = {
            name: stack_logs.group(self, f"{name.capitalize()}Logs") for name in (ECHO_CONTAINER, NGINX_CONTAINER)
        }

        self.echo = self.task_definition.add_container(
            ECHO_CONTAINER,
            image=images[ECHO_CONTAINER],
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=ECHO_PORT, name=ECHO_CONTAINER)],
            # The application's own variables first; the task's PORT is refused as one of them (settings).
            environment={**(app_environment or {}), "PORT": str(ECHO_PORT)},
            # Read by ECS from SSM / Secrets Manager at task start; the template holds only their names.
            secrets=AppSecrets(self, "Secrets", sources=secret_sources, kms_key_arn=secrets_kms_key_arn).secrets
            if secret_sources else None,
            ulimits=[NOFILE],
            logging=self._logs(ECHO_CONTAINER),
            health_check=_health_check(ECHO_HEALTH_COMMAND) if own_images else None,
            readonly_root_filesystem=own_images,
            user=IMAGE_USERS[ECHO_CONTAINER] if own_images else None,
            memory_limit_mib=limits[ECHO_CONTAINER],
            # echo drains in-flight requests for up to 20 s after SIGTERM (services/echo); ECS waits this long.
            stop_timeout=Duration.seconds(30) if own_images else None,
        )
        self.nginx = self.task_definition.add_container(
            NGINX_CONTAINER,
            image=images[NGINX_CONTAINER],
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=NGINX_PORT, name=NGINX_CONTAINER)],
            # In awsvpc mode the task's containers share one network namespace: echo is on localhost.
            # One nginx worker per vCPU: a 0.25-vCPU task gains nothing from more, and they would compete
            # with echo for the same CPU (measured with make bench: 0.57x of echo direct with 2, 1.0x with 1).
            environment={"BACKEND_HOST": backend_host, "WORKER_PROCESSES": str(nginx_workers(cpu)),
                         "WORKER_CONNECTIONS": str(NGINX_WORKER_CONNECTIONS)},
            # htpasswd lines: nginx-proxy writes them to its runtime volume and asks every path but the
            # health paths for basic authentication (services/nginx-proxy/README.md).
            secrets=AppSecrets(self, "NginxSecrets", sources={BASIC_AUTH_VARIABLE: basic_auth_source},
                               kms_key_arn=secrets_kms_key_arn).secrets if basic_auth_source else None,
            ulimits=[NOFILE],
            logging=self._logs(NGINX_CONTAINER),
            health_check=_health_check(NGINX_HEALTH_COMMAND) if own_images else None,
            readonly_root_filesystem=own_images,
            user=IMAGE_USERS[NGINX_CONTAINER] if own_images else None,
            memory_limit_mib=limits[NGINX_CONTAINER],
        )
        if own_images:
            execution_role = self.task_definition.obtain_execution_role()
            acknowledge(execution_role, "IAM5[Resource::*]", "ecr:GetAuthorizationToken has no resource-level "
                        "permissions; the image pulls themselves are limited to the two repositories.")
            # Fargate task storage, writable, for the one path nginx writes to under a read-only root.
            self.task_definition.add_volume(name="nginx-runtime")
            self.nginx.add_mount_points(
                ecs.MountPoint(container_path=NGINX_RUNTIME_DIR, source_volume="nginx-runtime", read_only=False)
            )
        if enable_exec and own_images:
            self._writable_for_exec_agent()
        acknowledge(self.task_definition, "ECS2", "The variables hold no secrets: BACKEND_HOST is an address on the "
                    "task's own localhost, the rest are settings; a value that looks like a credential is refused "
                    "(settings), and secrets reach the container through `secrets` from SSM or Secrets Manager.")
        # nginx starts once echo answers its health check; the public images have none, so there nginx can
        # only wait for echo to have started.
        self.nginx.add_container_dependencies(ecs.ContainerDependency(
            container=self.echo,
            condition=ecs.ContainerDependencyCondition.HEALTHY if own_images
            else ecs.ContainerDependencyCondition.START,
        ))

    def _writable_for_exec_agent(self) -> None:
        """Fargate task storage at the exec agent's paths: one volume per path and container, since each
        container runs its own agent and two agents must not share one state directory."""
        for container in (self.echo, self.nginx):
            for number, path in enumerate(EXEC_AGENT_PATHS):
                volume = f"{container.container_name}-exec-agent-{number}"
                self.task_definition.add_volume(name=volume)
                container.add_mount_points(ecs.MountPoint(container_path=path, source_volume=volume, read_only=False))

    def _logs(self, container: str) -> ecs.LogDriver:
        return ecs.LogDrivers.aws_logs(stream_prefix=container, log_group=self.log_groups[container])



def _health_check(command: list[str]) -> ecs.HealthCheck:
    return ecs.HealthCheck(command=command, interval=Duration.seconds(10), timeout=Duration.seconds(3),
                           retries=3, start_period=Duration.seconds(10))
