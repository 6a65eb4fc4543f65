"""Why the last deploy did what it did: `make events ENV=dev`.

Prints the failures first (oldest first: the first one is usually the cause, the later ones are
CloudFormation cancelling the rest), then the CloudFormation stack's events of its last operation only (back
to the latest `User Initiated` stack event), the ECS service's events since its newest deployment started,
and that deployment's stopped tasks with their reasons. Exit 0; 1 when the stack does not exist; 2 when
credentials or region are missing.

    .venv/bin/python -m operate.events --env dev
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from operate.stack import (
    AWS_ERRORS,
    EXIT_OK,
    SETUP_ERRORS,
    add_target_arguments,
    aws_clients,
    aws_reason,
    describe_stack,
    run,
    target_stack,
)
from operate.tasks import EPOCH, Task, clock, service_tasks

STACK_TYPE = "AWS::CloudFormation::Stack"


def last_operation(cloudformation: Any, stack: str) -> list[dict]:
    """The stack's events, newest first, back to and including the stack event that started the operation."""
    events, token = [], None
    while True:  # page by page, and no further back than needed: a stack keeps months of events
        page = cloudformation.describe_stack_events(StackName=stack, **({"NextToken": token} if token else {}))
        for event in page["StackEvents"]:
            events.append(event)
            if (event.get("ResourceType") == STACK_TYPE and event.get("LogicalResourceId") == stack
                    and event.get("ResourceStatusReason") == "User Initiated"):
                return events
        token = page.get("NextToken")
        if not token:
            return events  # the start is older than the events CloudFormation keeps: all there is


def is_failure(event: dict) -> bool:
    status = event.get("ResourceStatus", "")
    return status.endswith("_FAILED") or ("ROLLBACK" in status and bool(event.get("ResourceStatusReason")))


def cfn_line(event: dict) -> str:
    reason = event.get("ResourceStatusReason")
    return (f"  {clock(event.get('Timestamp'))} {event.get('ResourceStatus')} {event.get('ResourceType')} "
            f"{event.get('LogicalResourceId')}" + (f": {reason}" if reason else ""))


def task_line(task: Task) -> str:
    return f"  {'FAIL ' if task.abnormal else ''}task {task.id} {task.revision}, stopped {clock(task.stopped_at)}: " \
           f"{task.why_stopped()}"


def report(clients: dict[str, Any], stack: str) -> list[str]:
    described = describe_stack(clients["cloudformation"], stack)
    events = last_operation(clients["cloudformation"], stack)
    started = events[-1] if events else {}
    lines = [f"{stack}: {described.status}; last operation started {clock(started.get('Timestamp'))} "
             f"({started.get('ResourceStatus', 'no events')})"]
    ecs_lines, stopped = _ecs(clients["ecs"], described.outputs)
    failures = [cfn_line(event) for event in reversed(events) if is_failure(event)]
    failures += [task_line(task) for task in stopped if task.abnormal]
    lines += ["Failures (oldest first)", *(failures or ["  none"])]
    lines += ["CloudFormation events of the last operation (newest first)", *map(cfn_line, events)]
    lines += ecs_lines
    lines += ["Stopped tasks of that deployment (newest first)", *(map(task_line, stopped) if stopped else ["  none"])]
    return lines


def _ecs(ecs: Any, outputs: dict[str, str]) -> tuple[list[str], list[Task]]:
    """The service's events since its newest deployment started, and the tasks stopped since then."""
    if "ClusterName" not in outputs or "ServiceName" not in outputs:  # e.g. the first create rolled back
        return ["ECS service events", "  none: the stack has no ClusterName/ServiceName outputs"], []
    cluster, name = outputs["ClusterName"], outputs["ServiceName"]
    try:
        found = ecs.describe_services(cluster=cluster, services=[name])["services"]
        if not found or found[0].get("status") != "ACTIVE":
            return ["ECS service events", f"  none: service {name} not found (or not ACTIVE) in {cluster}"], []
        service = found[0]
        newest = max(service.get("deployments", []), key=lambda d: d.get("createdAt") or EPOCH, default={})
        since: datetime = newest.get("createdAt") or EPOCH
        stopped = [task for task in service_tasks(ecs, cluster, name, "STOPPED")
                   if task.stopped_at is None or task.stopped_at >= since]
    except SETUP_ERRORS:
        raise
    except AWS_ERRORS as error:
        return ["ECS service events", f"  error: {aws_reason(error)}"], []
    # DescribeServices gives the newest events first already.
    shown = [f"  {clock(event.get('createdAt'))} {event.get('message')}" for event in service.get("events", [])
             if (event.get("createdAt") or EPOCH) >= since]
    title = f"ECS events of {name} since deployment {newest.get('id', '?')} started {clock(since)} (newest first)"
    return [title, *(shown or ["  none"])], stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.events", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        clients = aws_clients(args.region, args.endpoint_url, ("cloudformation", "ecs"))
        print("\n".join(report(clients, target_stack(args))))
        return EXIT_OK
    return run(body, "events")


if __name__ == "__main__":
    sys.exit(main())
