"""One screen about a deployed echo-fargate stack: `make status ENV=dev`.

The verdict is make verify's checks (operate/verify.py) plus the alarms when monitoring is on; failing
checks come first, then the facts behind them: the stack, the service's counts, each deployment with its
task definition and images, the tasks (stopped ones with why), each target per target group, the alarms
and the URL's answer. Exit 0: healthy; 1: not (or no stack); 2: no credentials or region, bad arguments.

    .venv/bin/python -m operate.status --env dev [--json] [--watch [--interval 5] [--deadline 900]]

--local-task-url (make local-status): the emulator runs no containers, so running counts, tasks, targets
and alarms are reported as `skip` with the reason, never as healthy, and the GET goes to the local task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from operate.stack import (
    AWS_ERRORS,
    EXIT_OK,
    EXIT_UNHEALTHY,
    SETUP_ERRORS,
    add_target_arguments,
    aws_clients,
    aws_reason,
    describe_stack,
    http_url,
    non_negative,
    run,
    target_stack,
)
from operate.tasks import clock, service_tasks
from operate.verify import Answer, Check, Verifier, http_get

SERVICES = ("cloudformation", "ecs", "elbv2", "cloudwatch")
STOPPED_SHOWN = 5  # AWS keeps stopped tasks about an hour; the newest few say why a rollout is failing
LOCAL_ALARMS = "the local AWS's CloudFormation creates no CloudWatch alarms"
EXPECT_BODY = "Hello Docker!!"


@dataclass
class Snapshot:
    stack: str
    at: datetime
    checks: list[Check]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "time": self.at, "healthy": self.healthy,
                "skipped": [check.name for check in self.checks if check.skipped],
                "checks": [{"name": check.name, "state": _state(check), "detail": check.detail}
                           for check in _failing_first(self.checks)],
                **self.facts}


def _state(check: Check) -> str:
    return "skip" if check.skipped else "ok" if check.ok else "FAIL"


def _failing_first(checks: list[Check]) -> list[Check]:
    return sorted(checks, key=lambda check: check.ok)  # sorted() is stable: the checks' order otherwise


class Status:
    def __init__(self, clients: dict[str, Any], *, local_task_url: str | None = None,
                 http_get: Callable[..., Answer] = http_get, basic_auth: str | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cloudformation, self.ecs = clients["cloudformation"], clients["ecs"]
        self.elbv2, self.cloudwatch = clients["elbv2"], clients["cloudwatch"]
        self.local_task_url, self.now = local_task_url, now
        self.verifier = Verifier(cloudformation=self.cloudformation, ecs=self.ecs, elbv2=self.elbv2,
                                 http_get=http_get, task_runs_locally=local_task_url is not None,
                                 basic_auth=basic_auth)

    def snapshot(self, stack: str) -> Snapshot:
        at = self.now()
        stack_check, outputs = self.verifier.read_stack(stack, need_url=self.local_task_url is None)
        needed = ("ClusterName", "ServiceName") + (() if self.local_task_url else ("ServiceUrl",))
        if any(key not in outputs for key in needed):  # nothing to look at: the stack check says why
            return Snapshot(stack, at, [stack_check])
        cluster, name = outputs["ClusterName"], outputs["ServiceName"]
        url = self.local_task_url or outputs["ServiceUrl"]
        checks = [stack_check, *self.verifier.check_once(cluster, name, url, EXPECT_BODY)]
        # The checks say why the emulator cannot show something; the facts below reuse that reason.
        skipped = next((check.detail for check in checks if check.skipped), None)
        described = describe_stack(self.cloudformation, stack)
        facts: dict[str, Any] = {"stack_status": {"status": described.status, "last_updated": described.last_updated}}
        service = _guarded(lambda: self._service(cluster, name))
        facts["service"] = _counts(service, cluster, skipped) if "error" not in service else service
        facts["deployments"] = (_guarded(lambda: self._deployments(service, skipped)) if "error" not in service
                                else service)
        if skipped:
            facts["tasks"] = facts["stopped_tasks"] = facts["target_groups"] = {"skipped": skipped}
        else:
            facts["tasks"] = _guarded(lambda: [task.facts() for task in service_tasks(
                self.ecs, cluster, name, "RUNNING")])
            facts["stopped_tasks"] = _guarded(lambda: self._stopped(cluster, name))
            facts["target_groups"] = (_guarded(lambda: self._targets(service)) if "error" not in service
                                      else service)
        if "AlarmTopicArn" in outputs:  # the monitoring setting is on
            facts["alarms"] = {"skipped": LOCAL_ALARMS} if skipped else _guarded(lambda: self._alarms(stack))
            checks.append(_alarm_check(facts["alarms"]))
        else:
            facts["alarms"] = {"skipped": "monitoring is off (no AlarmTopicArn output)"}
        http = next(check for check in checks if check.name == "http")
        facts["url"] = {"url": url, "state": _state(http), "detail": http.detail}
        return Snapshot(stack, at, checks, facts)

    def _service(self, cluster: str, name: str) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=cluster, services=[name])["services"]
        if not found or found[0]["status"] != "ACTIVE":
            return {"error": f"service {name} not found (or not ACTIVE) in cluster {cluster}"}
        return found[0]

    def _deployments(self, service: dict, skipped: str | None) -> list[dict[str, Any]]:
        images: dict[str, dict[str, str]] = {}
        shown = []
        for deployment in service.get("deployments", []):
            arn = deployment["taskDefinition"]
            if arn not in images:
                definition = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                images[arn] = {c["name"]: c["image"] for c in definition.get("containerDefinitions", [])}
            shown.append({
                "id": deployment["id"], "status": deployment["status"],
                # moto fixes the rollout state at CreateService; make local has no real rollout to report.
                "rollout_state": "skip" if skipped else deployment.get("rolloutState", "UNKNOWN"),
                "rollout_reason": skipped or deployment.get("rolloutStateReason", ""),
                "revision": arn.rsplit("/", 1)[-1], "images": images[arn],
                "desired": deployment.get("desiredCount"), "running": None if skipped else deployment.get(
                    "runningCount"), "pending": None if skipped else deployment.get("pendingCount"),
                "failed_tasks": deployment.get("failedTasks", 0), "created_at": deployment.get("createdAt"),
            })
        return sorted(shown, key=lambda d: (d["rollout_state"] != "FAILED", d["status"] != "PRIMARY"))

    def _stopped(self, cluster: str, name: str) -> list[dict[str, Any]]:
        newest = service_tasks(self.ecs, cluster, name, "STOPPED")[:STOPPED_SHOWN]
        return [dict(task.facts(), why=task.why_stopped())
                for task in sorted(newest, key=lambda task: not task.abnormal)]

    def _targets(self, service: dict) -> list[dict[str, Any]]:
        groups = [arn for lb in service.get("loadBalancers", [])
                  for arn in (lb.get("targetGroupArn"),
                              lb.get("advancedConfiguration", {}).get("alternateTargetGroupArn")) if arn]
        shown = []
        for arn in groups:
            described = self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            targets = [{"id": t["Target"]["Id"], "port": t["Target"].get("Port"), "state": t["TargetHealth"]["State"],
                        "reason": t["TargetHealth"].get("Reason", "")} for t in described]
            shown.append({"name": arn.split("/")[1], "arn": arn,
                          "targets": sorted(targets, key=lambda t: t["state"] == "healthy")})
        return shown

    def _alarms(self, stack: str) -> list[dict[str, Any]]:
        # CloudFormation names the alarms "STACK-LogicalId-SUFFIX", but a prefix would also match the alarms
        # of echo-fargate-prod-hardened for echo-fargate-prod: the stack's own resources say exactly which.
        resources = self.cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        names = [r["PhysicalResourceId"] for r in resources
                 if r["ResourceType"] == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")]
        alarms = []
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            alarms += self.cloudwatch.describe_alarms(AlarmNames=names[start:start + 100])["MetricAlarms"]
        order = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
        return sorted(({"name": a["AlarmName"], "state": a["StateValue"], "reason": a.get("StateReason", ""),
                        "since": a.get("StateUpdatedTimestamp")} for a in alarms),
                      key=lambda a: (order.get(a["state"], 0), a["name"]))


def _guarded(read: Callable[[], Any]) -> Any:
    """One section's AWS error (throttling, access denied) shows in that section; the others still show."""
    try:
        return read()
    except SETUP_ERRORS:
        raise
    except AWS_ERRORS as error:
        return {"error": aws_reason(error)}


def _counts(service: dict, cluster: str, skipped: str | None) -> dict[str, Any]:
    counts = {"name": service["serviceName"], "cluster": cluster, "desired": service["desiredCount"]}
    if skipped:
        return dict(counts, running="skip", pending="skip", skipped=skipped)
    return dict(counts, running=service["runningCount"], pending=service.get("pendingCount", 0))


def _alarm_check(alarms: Any) -> Check:
    if isinstance(alarms, dict):
        if "skipped" in alarms:
            return Check("alarms", True, alarms["skipped"], skipped=True)
        return Check("alarms", False, alarms["error"])
    if not alarms:
        return Check("alarms", False, "monitoring is on but the stack lists no CloudWatch alarms")
    firing = [alarm["name"] for alarm in alarms if alarm["state"] == "ALARM"]
    if firing:
        return Check("alarms", False, f"{len(firing)} of {len(alarms)} in ALARM: {', '.join(firing)}")
    waiting = sum(alarm["state"] == "INSUFFICIENT_DATA" for alarm in alarms)
    return Check("alarms", True, f"{len(alarms) - len(firing)} of {len(alarms)} not in ALARM"
                 + (f" ({waiting} with insufficient data)" if waiting else ""))


def render(snapshot: Snapshot) -> list[str]:
    failing = [check.name for check in snapshot.checks if not check.ok]
    skipped = [check.name for check in snapshot.checks if check.skipped]
    if not snapshot.healthy:
        verdict = f"NOT HEALTHY ({', '.join(failing)})"
    elif skipped:  # a skipped check passed nothing: say no failure, not healthy
        verdict = f"no failures, {len(skipped)} not checked ({', '.join(skipped)})"
    else:
        verdict = "HEALTHY"
    lines = [f"{snapshot.stack}: {verdict} at {clock(snapshot.at)}"]
    lines += [f"  {check.line()}" for check in _failing_first(snapshot.checks)]
    facts = snapshot.facts
    if not facts:
        return lines
    stack = facts["stack_status"]
    lines += ["", f"Stack        {stack['status']}, last updated {clock(stack['last_updated'])}"]
    service = facts["service"]
    if "error" in service:
        lines.append(f"Service      error: {service['error']}")
    else:
        lines.append(f"Service      {service['name']} in {service['cluster']}: desired {service['desired']}, "
                     f"running {service['running']}, pending {service['pending']}"
                     + (f" ({service['skipped']})" if "skipped" in service else ""))
    lines.append("Deployments")
    lines += _section(facts["deployments"], lambda d: (
        f"  {d['status']} {d['id']} {d['rollout_state']} {d['revision']}"
        + ("" if d["running"] is None else f" {d['running']}/{d['desired']} running, {d['pending']} pending")
        + (f", {d['failed_tasks']} failed" if d["failed_tasks"] else "")
        + f", since {clock(d['created_at'])}"
        + (f": {d['rollout_reason']}" if d["rollout_reason"] else "")
        + "\n    images: " + ", ".join(f"{name}={image}" for name, image in d["images"].items())))
    lines.append("Tasks")
    lines += _section(facts["tasks"], lambda t: f"  {t['id']} {t['last_status']} health {t['health']} "
                      f"{t['revision']}, started {clock(t['started_at'])}", empty="  none running")
    lines.append(f"Stopped tasks (newest {STOPPED_SHOWN}, abnormal first)")
    lines += _section(facts["stopped_tasks"], lambda t: (
        f"  {'FAIL ' if t['abnormal'] else ''}{t['id']} {t['revision']}, stopped {clock(t['stopped_at'])}: "
        f"{t['why']}"), empty="  none")
    lines.append("Targets")
    lines += _section(facts["target_groups"], lambda g: f"  {g['name']}: " + (", ".join(
        f"{t['id']}:{t['port']} {t['state']}" + (f" ({t['reason']})" if t["reason"] else "")
        for t in g["targets"]) or "no targets registered"), empty="  the service has no target group")
    lines.append("Alarms")
    lines += _section(facts["alarms"], lambda a: f"  {a['state']} {a['name']}: {a['reason']}", empty="  none")
    url = facts["url"]
    lines += ["URL", f"  {url['state']} {url['detail']}"]
    return lines


def _section(value: Any, line: Callable[[dict], str], empty: str = "  none") -> list[str]:
    if isinstance(value, dict):
        return [f"  skip: {value['skipped']}" if "skipped" in value else f"  error: {value['error']}"]
    return [text for item in value for text in line(item).split("\n")] or [empty]


def _print(text: str) -> None:
    print(text, flush=True)  # each screen at once when piped, e.g. into tee


def watch(status: Status, stack: str, *, as_json: bool, watching: bool, interval: float, deadline: float,
          out: Callable[[str], None] = _print, sleep: Callable[[float], None] = time.sleep,
          monotonic: Callable[[], float] = time.monotonic) -> Snapshot:
    """One snapshot; with `watching`, again every `interval` s until healthy or `deadline` s have passed."""
    end = monotonic() + deadline
    round_number = 0
    while True:
        round_number += 1
        snapshot = status.snapshot(stack)
        left = end - monotonic()
        if watching and not as_json:  # a separator between screens; JSON stays one document a line
            out(f"==== {clock(snapshot.at)}, round {round_number}, {max(left, 0):.0f} s left (Ctrl-C stops) ====")
        if as_json:
            out(json.dumps(snapshot.as_json(), default=_json_value, indent=None if watching else 2))
        else:
            out("\n".join(render(snapshot)))
        if not watching or snapshot.healthy or left <= 0:
            return snapshot
        sleep(min(interval, left))


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.status", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document (with --watch: one a line)")
    parser.add_argument("--watch", action="store_true", help="repeat until healthy, Ctrl-C or --deadline")
    parser.add_argument("--interval", type=non_negative, default=5, help="seconds between rounds (--watch)")
    parser.add_argument("--deadline", type=non_negative, default=900, help="seconds --watch keeps going")
    parser.add_argument("--local-task-url", type=http_url,
                        help="make local: the task runs here at this URL; skip what the emulator cannot run")
    args = parser.parse_args(argv)
    if args.interval == 0:  # a busy loop of AWS calls
        parser.error("argument --interval: must be above 0")

    def body() -> int:
        status = Status(aws_clients(args.region, args.endpoint_url, SERVICES), local_task_url=args.local_task_url,
                        basic_auth=os.environ.get("VERIFY_BASIC_AUTH") or None)
        snapshot = watch(status, target_stack(args), as_json=args.json, watching=args.watch,
                         interval=args.interval, deadline=args.deadline)
        return EXIT_OK if snapshot.healthy else EXIT_UNHEALTHY
    return run(body, "status")


if __name__ == "__main__":
    sys.exit(main())
