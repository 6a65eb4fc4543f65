"""A shell in a running task of the service through ECS Exec: `make exec ENV=dev CONTAINER=nginx|echo`.

It finds a RUNNING task of the stack's service, checks that the service has ECS Exec on (the setting
`enable_exec`) and that AWS's session-manager-plugin is installed, then runs

    aws ecs execute-command --cluster C --task T --container CONTAINER --interactive --command /bin/sh

or, without the AWS CLI, calls ExecuteCommand itself and hands the session to session-manager-plugin with
the arguments the AWS CLI gives it. Exit: the shell session's status; 1: ECS Exec off, no running task, or
ExecuteCommand refused; 2: no session-manager-plugin, or no credentials or region.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from operate.stack import (
    AWS_ERRORS,
    EXIT_SETUP,
    EXIT_UNHEALTHY,
    SETUP_ERRORS,
    add_target_arguments,
    aws_clients,
    aws_reason,
    describe_stack,
    run,
    target_stack,
)
from stacks.echo_task import ECHO_CONTAINER, NGINX_CONTAINER

PROG = "exec"
PLUGIN = "session-manager-plugin"
SHELL = "/bin/sh"  # both images have a POSIX sh (busybox in nginx-proxy), neither has bash for sure
INSTALL_PLUGIN = (f"{PROG}: {PLUGIN} is not on PATH: install AWS's Session Manager plugin, "
                  "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-"
                  "install-plugin.html (Debian/Ubuntu: download its session-manager-plugin.deb there, then "
                  "sudo apt install ./session-manager-plugin.deb)")
EPOCH = datetime.min.replace(tzinfo=UTC)


class Refused(Exception):
    """No session can start; the message says why."""


def running_task(ecs: Any, cluster: str, service: str) -> dict:
    """The most recently started RUNNING task of the service, if ECS Exec is on for it."""
    (described,) = ecs.describe_services(cluster=cluster, services=[service])["services"] or [None]
    if described is None or described.get("status") != "ACTIVE":
        raise Refused(f"service {service} not found (or not ACTIVE) in cluster {cluster}")
    if not described.get("enableExecuteCommand"):
        raise Refused(f"service {service} has ECS Exec off: deploy with -c enable_exec=true (the setting "
                      "enable_exec), and the tasks it then starts accept sessions")
    arns = [arn for page in ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, serviceName=service, desiredStatus="RUNNING") for arn in page["taskArns"]]
    tasks = [task for start in range(0, len(arns), 100)  # DescribeTasks takes at most 100 tasks
             for task in ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]
             # ListTasks filters by service on AWS; moto ignores serviceName, the group says it too.
             if task.get("lastStatus") == "RUNNING" and task.get("group") == f"service:{service}"]
    if not tasks:
        raise Refused(f"no RUNNING task of service {service} in cluster {cluster} (make status)")
    return max(tasks, key=lambda task: task.get("startedAt") or EPOCH)


@contextmanager
def keystrokes_to_the_session() -> Iterator[None]:
    """Ctrl-C, Ctrl-\\ and Ctrl-Z belong to the remote shell: the plugin forwards them, so this process must
    not die of them (the AWS CLI ignores the same three while the plugin runs)."""
    names = ("SIGINT", "SIGQUIT", "SIGTSTP")
    saved = {name: signal.signal(getattr(signal, name), signal.SIG_IGN) for name in names if hasattr(signal, name)}
    try:
        yield
    finally:
        for name, handler in saved.items():
            signal.signal(getattr(signal, name), handler)


def aws_cli_command(aws: str, cluster: str, task_id: str, container: str, region: str,
                    endpoint_url: str | None) -> list[str]:
    return [aws, "ecs", "execute-command", "--cluster", cluster, "--task", task_id, "--container", container,
            "--interactive", "--command", SHELL, "--region", region,
            *(["--endpoint-url", endpoint_url] if endpoint_url else [])]


def plugin_command(plugin: str, ecs: Any, response: dict, runtime_id: str, profile: str) -> list[str]:
    """What the AWS CLI runs (awscli/customizations/ecs/executecommand.py): the session as JSON, the region,
    "StartSession", the profile ('' for none), the SSM target ecs:CLUSTER_TASK_RUNTIMEID, ECS's endpoint."""
    cluster = response["clusterArn"].rsplit("/", 1)[-1]
    task_id = response["taskArn"].rsplit("/", 1)[-1]
    target = {"Target": f"ecs:{cluster}_{task_id}_{runtime_id}"}
    return [plugin, json.dumps(response["session"]), ecs.meta.region_name, "StartSession", profile,
            json.dumps(target), ecs.meta.endpoint_url]


def open_shell(*, clients: dict[str, Any], stack: str, container: str, endpoint_url: str | None = None,
               which: Callable[[str], str | None] = shutil.which,
               runner: Callable[[Sequence[str]], int] | None = None) -> int:
    runner = runner or (lambda command: subprocess.run(list(command), check=False).returncode)
    described = describe_stack(clients["cloudformation"], stack)
    cluster, service = described.output("ClusterName"), described.output("ServiceName")
    ecs = clients["ecs"]
    try:
        task = running_task(ecs, cluster, service)
    except Refused as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_UNHEALTHY
    plugin = which(PLUGIN)
    if plugin is None:
        print(INSTALL_PLUGIN, file=sys.stderr)
        return EXIT_SETUP
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    print(f"{PROG}: {container} in task {task_id} of {service} ({cluster}); exit leaves the shell", file=sys.stderr)
    if aws := which("aws"):
        with keystrokes_to_the_session():
            return runner(aws_cli_command(aws, cluster, task_id, container, ecs.meta.region_name, endpoint_url))
    response = ecs.execute_command(cluster=cluster, task=task["taskArn"], container=container,
                                   interactive=True, command=SHELL)
    runtime_id = next((c.get("runtimeId", "") for c in task.get("containers", []) if c["name"] == container), "")
    # The profile boto3 used: the same variables it reads; '' as the AWS CLI passes when there is none.
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or ""
    with keystrokes_to_the_session():
        return runner(plugin_command(plugin, ecs, response, runtime_id, profile))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.exec_shell", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--container", choices=(NGINX_CONTAINER, ECHO_CONTAINER), default=NGINX_CONTAINER,
                        help="the container to open the shell in")
    args = parser.parse_args(argv)

    def command() -> int:
        clients = aws_clients(args.region, args.endpoint_url, ("cloudformation", "ecs"))
        try:
            return open_shell(clients=clients, stack=target_stack(args), container=args.container,
                              endpoint_url=args.endpoint_url)
        except SETUP_ERRORS:
            raise
        except AWS_ERRORS as error:  # e.g. ExecuteCommand: the task started before exec was on
            print(f"{PROG}: {aws_reason(error)}", file=sys.stderr)
            return EXIT_UNHEALTHY

    return run(command, PROG)


if __name__ == "__main__":
    sys.exit(main())
