"""A service's tasks as `make status` and `make events` show them: running ones with their health, stopped
ones with why they stopped (stoppedReason, stopCode, each container's exit code and reason)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from operate.verify import ABNORMAL_STOP_CODES

DESCRIBE_TASKS_LIMIT = 100
EPOCH = datetime.min.replace(tzinfo=UTC)  # sorts tasks that have no times yet (PROVISIONING) last


@dataclass(frozen=True)
class Task:
    id: str
    last_status: str
    health: str
    revision: str
    started_at: datetime | None
    stopped_at: datetime | None
    stopped_reason: str
    stop_code: str
    exits: tuple[str, ...]  # "nginx exited 1 (reason)" for each container that ended other than with 0

    @property
    def abnormal(self) -> bool:
        return self.stop_code in ABNORMAL_STOP_CODES or bool(self.exits)

    def why_stopped(self) -> str:
        parts = [f"{self.stop_code}: " if self.stop_code else ""]
        parts.append(self.stopped_reason or "no reason given")
        if self.exits:
            parts.append(f" ({', '.join(self.exits)})")
        return "".join(parts)

    def facts(self) -> dict[str, Any]:
        """The task as status --json shows it (datetimes become ISO 8601 there)."""
        return {"id": self.id, "last_status": self.last_status, "health": self.health, "revision": self.revision,
                "started_at": self.started_at, "stopped_at": self.stopped_at,
                "stopped_reason": self.stopped_reason, "stop_code": self.stop_code, "exits": list(self.exits),
                "abnormal": self.abnormal}


def clock(moment: datetime | None) -> str:
    # botocore hands out times in the machine's zone; one zone on every line reads better.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def service_tasks(ecs: Any, cluster: str, service_name: str, desired_status: str) -> list[Task]:
    """The service's tasks in one desired status, newest first (by stop time, else start time)."""
    pages = ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, serviceName=service_name, desiredStatus=desired_status)
    arns = [arn for page in pages for arn in page["taskArns"]]
    tasks = [_task(described) for described in _describe(ecs, cluster, arns)
             # AWS filters ListTasks by service already; moto ignores serviceName, the group says it too.
             if described.get("group") == f"service:{service_name}"]
    return sorted(tasks, key=lambda task: (task.stopped_at or task.started_at or EPOCH),
                  reverse=True)


def _describe(ecs: Any, cluster: str, arns: list[str]) -> Iterator[dict]:
    for start in range(0, len(arns), DESCRIBE_TASKS_LIMIT):
        yield from ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + DESCRIBE_TASKS_LIMIT])["tasks"]


def _task(described: dict) -> Task:
    exits = tuple(
        f"{container['name']} exited {container['exitCode']}"
        + (f" ({container['reason']})" if container.get("reason") else "")
        for container in described.get("containers", []) if container.get("exitCode") not in (None, 0))
    return Task(
        id=described["taskArn"].rsplit("/", 1)[-1], last_status=described.get("lastStatus", "UNKNOWN"),
        health=described.get("healthStatus", "UNKNOWN"),
        revision=described.get("taskDefinitionArn", "").rsplit("/", 1)[-1],
        started_at=described.get("startedAt"), stopped_at=described.get("stoppedAt"),
        stopped_reason=described.get("stoppedReason", ""), stop_code=described.get("stopCode", ""), exits=exits)
