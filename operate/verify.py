"""Checks a deployed echo-fargate stack: the ECS service is steady, the load balancer's targets are healthy
and the service answers. `make verify ENV=dev` runs it after `make deploy`.

It reads the stack's outputs (ClusterName, ServiceName, ServiceUrl), then runs every check in rounds until
all pass or --deadline passes, so it can follow a deployment that is still rolling out. A deployment that
ECS has marked FAILED stops it at once. Exit 0: all checks passed (one `ok` line each); 1: one `FAIL` line
per failed check; 2: bad arguments, or no credentials or region.

    .venv/bin/python -m operate.verify --stack echo-fargate-dev
    .venv/bin/python -m operate.verify --endpoint-url http://localhost:4566 --url http://127.0.0.1:8000/

Against the local AWS of `make local`, --local-task-url says that the task runs on this machine, not in the
emulator (moto runs no containers and keeps no load balancer targets): the checks of running tasks, the
rollout and the targets are then reported as `skip` with that reason, never as passed, and the GET goes
to the local task.

A stack deployed with basic_auth_secret says so in its BasicAuthSecret output: the service must then refuse
a request without credentials (401 with a Basic challenge), which is what is checked unless
VERIFY_BASIC_AUTH=user:password is in the environment, with which the answer behind the login is checked.
The GET and the judgement of its answer are services/release_gate/probe.py's, shared with the release gate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from operate.stack import (
    SETUP_ERRORS,
    StackNotFound,
    aws_clients,
    aws_reason,
    describe_stack,
    http_url,
    non_negative,
)

# The GET and its judgement are the release gate's too, so a release passes the gate by the verifier's rule;
# Answer and http_get stay importable from here for the operating commands that share the verifier's layer.
from services.release_gate.probe import (
    TRANSPORT_ERRORS,
    Answer,
    Expectation,
    http_get,
    judge,
    received_body,
    transport_problem,
)

ABNORMAL_STOP_CODES = {"TaskFailedToStart", "EssentialContainerExited"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = False  # waiting cannot fix it: stop now instead of at the deadline
    skipped: bool = False  # not checkable where it runs (the local AWS); never counts as a pass in the output

    def line(self) -> str:
        return f"{'skip' if self.skipped else 'ok' if self.ok else 'FAIL'} {self.name}: {self.detail}"


class Verifier:
    def __init__(self, *, cloudformation: Any, ecs: Any, elbv2: Any,
                 http_get: Callable[..., Answer] = http_get, stopped_window: float = 600,
                 task_runs_locally: bool = False, basic_auth: str | None = None) -> None:
        self.cloudformation, self.ecs, self.elbv2, self.http_get = cloudformation, ecs, elbv2, http_get
        self.basic_auth = basic_auth  # user:password for a service behind basic_auth_secret
        self.auth_required = False
        self.stopped_window = timedelta(seconds=stopped_window)
        self.task_runs_locally = task_runs_locally

    def verify(self, stack: str, *, url: str | None = None, expect_body: str = "Hello Docker!!",
               deadline: float = 600, interval: float = 10, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic,
               progress: Callable[[str], None] | None = None) -> list[Check]:
        stack_check, outputs = self.read_stack(stack, need_url=url is None)
        if not stack_check.ok:
            return [stack_check]
        url = url or outputs["ServiceUrl"]
        end = clock() + deadline
        while True:
            checks = [stack_check, *self.check_once(outputs["ClusterName"], outputs["ServiceName"], url, expect_body)]
            failing = [check for check in checks if not check.ok]
            left = end - clock()
            if not failing or any(check.fatal for check in failing) or left <= 0:
                return checks
            waiting_for = ", ".join(check.name for check in failing)
            (progress or _to_stderr)(f"verify: waiting for {waiting_for} ({left:.0f} s left)")
            sleep(min(interval, left))

    def read_stack(self, stack: str, *, need_url: bool) -> tuple[Check, dict[str, str]]:
        try:
            described = describe_stack(self.cloudformation, stack)
        except StackNotFound as error:
            return Check("stack", False, str(error), fatal=True), {}
        outputs = described.outputs
        self.auth_required = "BasicAuthSecret" in outputs  # read by http()
        needed = ["ClusterName", "ServiceName"] + (["ServiceUrl"] if need_url else [])
        if missing := [key for key in needed if key not in outputs]:
            detail = f"{stack} ({described.status}) lacks outputs: {', '.join(missing)}"
            return Check("stack", False, detail, fatal=True), outputs
        status = described.status
        if not described.landed:
            # The service may be steady again, but on the previous release: the deployment did not land.
            return Check("stack", False, f"{stack} {status}: the last deployment did not land", fatal=True), outputs
        return Check("stack", True, f"{stack} {status}"), outputs

    def check_once(self, cluster: str, service_name: str, url: str, expect_body: str) -> list[Check]:
        names = ("running", "deployment", "failed-tasks", "target-health")
        try:
            found = self.ecs.describe_services(cluster=cluster, services=[service_name])["services"]
        except SETUP_ERRORS:
            raise
        except (ClientError, BotoCoreError) as error:
            return [*(Check(name, False, aws_reason(error)) for name in names), self.http(url, expect_body)]
        if not found or found[0]["status"] != "ACTIVE":
            reason = f"service {service_name} not found (or not ACTIVE) in cluster {cluster}"
            return [*(Check(name, False, reason, fatal=True) for name in names), self.http(url, expect_body)]
        service = found[0]
        if self.task_runs_locally:
            reason = "the local AWS runs no containers; the task runs on this machine (make run)"
            return [*(Check(name, True, reason, skipped=True) for name in names), self.http(url, expect_body)]
        return [
            self.running(service),
            self.deployment(service),
            _guarded("failed-tasks", self.failed_tasks, cluster, service),
            _guarded("target-health", self.target_health, service),
            self.http(url, expect_body),
        ]

    def running(self, service: dict) -> Check:
        desired, running = service["desiredCount"], service["runningCount"]
        detail = f"{running}/{desired} tasks running, {service.get('pendingCount', 0)} pending"
        if desired == 0:
            return Check("running", False, f"{detail}: desiredCount is 0, the service runs nothing")
        return Check("running", running == desired, detail)

    def deployment(self, service: dict) -> Check:
        deployments = service.get("deployments", [])
        # With the circuit breaker's rollback the failed deployment turns ACTIVE and a new PRIMARY rolls back
        # to the old task definition, so look for FAILED in every deployment, not only the PRIMARY one.
        if failed := next((d for d in deployments if d.get("rolloutState") == "FAILED"), None):
            return Check("deployment", False, f"{failed['id']} FAILED: {failed.get('rolloutStateReason', '')}",
                         fatal=True)
        primary = next((d for d in deployments if d["status"] == "PRIMARY"), None)
        if primary is None:
            return Check("deployment", False, "the service has no PRIMARY deployment")
        done = len(deployments) == 1 and primary["runningCount"] == primary["desiredCount"]
        state = primary.get("rolloutState") or ("COMPLETED" if done else "IN_PROGRESS")  # no rollout tracking
        revision = primary["taskDefinition"].rsplit("/", 1)[-1]
        if state == "COMPLETED":
            return Check("deployment", True, f"{primary['id']} COMPLETED ({revision})")
        older = f", {len(deployments) - 1} older deployment(s) draining" if len(deployments) > 1 else ""
        return Check("deployment", False, f"{primary['id']} still {state}: {primary['runningCount']}/"
                     f"{primary['desiredCount']} tasks of {revision} running{older}")

    def failed_tasks(self, cluster: str, service: dict) -> Check:
        primary = next((d for d in service.get("deployments", []) if d["status"] == "PRIMARY"), {})
        failed = primary.get("failedTasks", 0)
        problems = [f"deployment {primary['id']} counts {failed} failed task(s)"] if failed else []
        problems += list(self._recent_abnormal_stops(cluster, service["serviceName"]))
        if problems:
            shown = problems[:3] + ([f"{len(problems) - 3} more"] if len(problems) > 3 else [])
            return Check("failed-tasks", False, "; ".join(shown))
        minutes = self.stopped_window.total_seconds() / 60
        return Check("failed-tasks", True, f"no failed tasks, no abnormal stops in the last {minutes:g} min")

    def _recent_abnormal_stops(self, cluster: str, service_name: str) -> Iterator[str]:
        pages = self.ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service_name, desiredStatus="STOPPED")
        arns = [arn for page in pages for arn in page["taskArns"]]
        since = datetime.now(UTC) - self.stopped_window
        for start in range(0, len(arns), 100):  # DescribeTasks takes at most 100 tasks
            for task in self.ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]:
                # AWS filters ListTasks by service already; moto ignores serviceName, the group says it too.
                stopped_at = task.get("stoppedAt")
                if task.get("group") != f"service:{service_name}" or (stopped_at and stopped_at < since):
                    continue
                reasons = [f"{c['name']} exited {c['exitCode']}" for c in task.get("containers", [])
                           if c.get("exitCode") not in (None, 0)]
                if task.get("stopCode") in ABNORMAL_STOP_CODES:
                    reasons.insert(0, f"{task['stopCode']} ({task.get('stoppedReason', '')})")
                if reasons:
                    yield f"task {task['taskArn'].rsplit('/', 1)[-1][:12]} stopped: {', '.join(reasons)}"

    def target_health(self, service: dict) -> Check:
        # Blue/green: the serving tasks may be in the alternate group; both together must be healthy.
        groups = [arn for lb in service.get("loadBalancers", [])
                  for arn in (lb.get("targetGroupArn"),
                              lb.get("advancedConfiguration", {}).get("alternateTargetGroupArn"))
                  if arn]
        if not groups:
            return Check("target-health", False, "the service has no load balancer target group")
        total, unhealthy = 0, []
        for arn in groups:
            for target in self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
                total += 1
                health, where = target["TargetHealth"], f"{target['Target']['Id']}:{target['Target'].get('Port')}"
                if health["State"] != "healthy":
                    unhealthy.append(f"{where} {health['State']} ({health.get('Reason', 'no reason given')})")
        names = ", ".join(arn.split("/")[1] for arn in groups)
        if total == 0:
            return Check("target-health", False, f"no targets registered in {names}")
        if unhealthy:
            return Check("target-health", False, f"{len(unhealthy)} of {total} not healthy: {', '.join(unhealthy)}")
        return Check("target-health", True, f"{total}/{total} targets healthy in {names}")

    def http(self, url: str, expect_body: str) -> Check:
        credentials = self.basic_auth if self.auth_required else None
        try:
            answer = self.http_get(url, credentials=credentials)
        except TRANSPORT_ERRORS as error:
            return Check("http", False, f"GET {url}: {transport_problem(error)}")
        # Without the password, what can be checked is that the door is shut: a 401 with a Basic challenge.
        login_challenge = self.auth_required and not credentials
        problem = judge(answer, Expectation(body=expect_body, login_challenge=login_challenge))
        if login_challenge:
            if problem:
                return Check("http", False, f"GET {url} without credentials: {problem} (the stack has "
                             "basic_auth_secret)")
            return Check("http", True, f"GET {url}: 401 {answer.challenge} (basic_auth_secret: credentials "
                         "are required; VERIFY_BASIC_AUTH=user:password checks the answer behind them)")
        if problem:
            refused = credentials and answer.status == 401
            return Check("http", False, f"GET {url}: {problem}"
                         + (" (VERIFY_BASIC_AUTH was refused)" if refused else ""))
        return Check("http", True, f"GET {url}: 200 {received_body(answer)!r}")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _guarded(name: str, check: Callable[..., Check], *args: Any) -> Check:
    """Runs one check; an AWS error (throttling, access denied) fails that check and the next round retries."""
    try:
        return check(*args)
    except SETUP_ERRORS:
        raise
    except (ClientError, BotoCoreError) as error:
        return Check(name, False, aws_reason(error))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="echo-fargate-dev", help="CloudFormation stack name")
    parser.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION or the profile's)")
    parser.add_argument("--endpoint-url", type=http_url, help="an AWS emulator, e.g. http://localhost:4566")
    parser.add_argument("--deadline", type=non_negative, default=600, help="seconds to wait for a rollout")
    parser.add_argument("--interval", type=non_negative, default=10, help="seconds between rounds of checks")
    parser.add_argument("--stopped-window", type=non_negative, default=10,
                        help="minutes back in which a failed task stop counts")
    parser.add_argument("--url", type=http_url, help="URL to GET instead of the stack's ServiceUrl")
    parser.add_argument("--expect-body", default="Hello Docker!!", help="body the URL must answer")
    parser.add_argument("--local-task-url", type=http_url,
                        help="make local: the task runs here at this URL; skip what the emulator cannot run")
    args = parser.parse_args(argv)
    if args.interval == 0:  # a busy loop of AWS calls
        parser.error("argument --interval: must be above 0")

    try:
        verifier = Verifier(**aws_clients(args.region, args.endpoint_url), stopped_window=args.stopped_window * 60,
                            task_runs_locally=args.local_task_url is not None,
                            basic_auth=os.environ.get("VERIFY_BASIC_AUTH") or None)
        checks = verifier.verify(args.stack, url=args.local_task_url or args.url, expect_body=args.expect_body,
                                 deadline=args.deadline, interval=args.interval)
    except SETUP_ERRORS as error:
        hint = "pass --region or set AWS_REGION" if isinstance(error, NoRegionError) else "e.g. set AWS_PROFILE"
        print(f"verify: {error} ({hint})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for check in checks:
        print(check.line())
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
