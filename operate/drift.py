"""Does the deployed stack still match its template? CloudFormation drift detection, one line per drifted
resource and one per drifted property. `make drift ENV=dev` runs it.

DetectStackDrift, then DescribeStackDriftDetectionStatus until the detection ends (at most --deadline
seconds), then DescribeStackResourceDrifts for the MODIFIED and DELETED resources. What a blue/green
deployment changes by design is labelled `by design (blue/green)` and is no fault: ECS rewrites the
production listener rule's forward action (weights, target groups) when it shifts traffic, and sets the
service's TaskDefinition and LoadBalancers itself during a deployment.

Exit 0: no drift but by design (or the endpoint does not implement drift detection: a `skip` line says so);
1: drift, or a detection that failed or did not finish (nothing is claimed then); 2: no credentials or region.

    .venv/bin/python -m operate.drift --env dev
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from operate.stack import (
    AWS_ERRORS,
    EXIT_OK,
    EXIT_UNHEALTHY,
    SETUP_ERRORS,
    add_target_arguments,
    aws_clients,
    aws_reason,
    describe_stack,
    run,
    target_stack,
)

PROG = "drift"
BY_DESIGN_LABEL = "by design (blue/green)"
# (resource type, a part of the logical id or "" for any, top-level property) that ECS rewrites during a
# blue/green deployment. Only the production rule: the rule hiding the health path is never touched by ECS.
BY_DESIGN = (
    ("AWS::ElasticLoadBalancingV2::ListenerRule", "ProductionRule", "Actions"),
    ("AWS::ECS::Service", "", "TaskDefinition"),
    ("AWS::ECS::Service", "", "LoadBalancers"),
)
SHOWN_VALUE = 100  # characters of an expected/actual value; task definitions are long JSON


class NotImplementedByEndpoint(Exception):
    """The endpoint (an emulator) has no drift detection: report skip, never `no drift`."""


@dataclass(frozen=True)
class PropertyDrift:
    path: str
    expected: str
    actual: str
    kind: str  # ADD | REMOVE | NOT_EQUAL
    by_design: bool

    def line(self) -> str:
        label = f" [{BY_DESIGN_LABEL}]" if self.by_design else ""
        return f"  {self.path} {self.kind}: expected {_short(self.expected)} actual {_short(self.actual)}{label}"


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    resource_type: str
    status: str  # MODIFIED | DELETED
    properties: tuple[PropertyDrift, ...]

    @property
    def by_design(self) -> bool:
        # A deleted resource is never by design, nor a modified one with any other property changed.
        return self.status == "MODIFIED" and bool(self.properties) and all(p.by_design for p in self.properties)

    def lines(self) -> list[str]:
        label = BY_DESIGN_LABEL if self.by_design else "DRIFT"
        return [f"{label} {self.logical_id} ({self.resource_type}) {self.status}",
                *(p.line() for p in self.properties)]


def _short(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else f"{value[:SHOWN_VALUE]}... ({len(value)} chars)"


def is_by_design(resource_type: str, logical_id: str, path: str) -> bool:
    top = path.lstrip("/").split("/", 1)[0]
    return any(resource_type == kind and part in logical_id and top == prop for kind, part, prop in BY_DESIGN)


class DriftDetector:
    def __init__(self, cloudformation: Any, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cloudformation, self.sleep, self.clock = cloudformation, sleep, clock

    @property
    def emulated(self) -> bool:
        """An endpoint other than AWS's own: --endpoint-url, or AWS_ENDPOINT_URL as make local sets it."""
        host = urllib.parse.urlsplit(self.cloudformation.meta.endpoint_url).hostname or ""
        return not host.endswith((".amazonaws.com", ".amazonaws.com.cn"))

    def start(self, stack: str) -> str:
        try:
            return self.cloudformation.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
        except NotImplementedError as error:  # moto in this process
            raise NotImplementedByEndpoint(str(error)) from None
        except ClientError as error:
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 501 or "not implemented" in str(details.get("Message", "")).lower() \
                    or details.get("Code") in ("NotImplemented", "NotImplementedException"):
                raise NotImplementedByEndpoint(aws_reason(error)) from None
            raise
        except ResponseParserError as error:
            # moto's server answers an action it lacks with an HTML 500 page; AWS itself never answers HTML.
            if self.emulated and "500 Internal Server Error" in str(error):
                raise NotImplementedByEndpoint("HTTP 500 from the emulator for DetectStackDrift") from None
            raise

    def wait(self, detection_id: str, deadline: float, interval: float) -> dict:
        end = self.clock() + deadline
        while True:
            status = self.cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
            if status["DetectionStatus"] != "DETECTION_IN_PROGRESS" or self.clock() >= end:
                return status
            self.sleep(min(interval, max(end - self.clock(), 0)))

    def drifts(self, stack: str) -> Iterator[ResourceDrift]:
        token: dict[str, str] = {}
        while True:
            page = self.cloudformation.describe_stack_resource_drifts(
                StackName=stack, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"], **token)
            for drift in page["StackResourceDrifts"]:
                kind, logical_id = drift["ResourceType"], drift["LogicalResourceId"]
                yield ResourceDrift(logical_id, kind, drift["StackResourceDriftStatus"], tuple(
                    PropertyDrift(p["PropertyPath"], p.get("ExpectedValue", ""), p.get("ActualValue", ""),
                                  p["DifferenceType"], is_by_design(kind, logical_id, p["PropertyPath"]))
                    for p in drift.get("PropertyDifferences", [])))
            if not page.get("NextToken"):
                return
            token = {"NextToken": page["NextToken"]}

    def report(self, stack: str, *, deadline: float = 300, interval: float = 5,
               out: Callable[[str], None] = print) -> int:
        try:
            detection_id = self.start(stack)
        except NotImplementedByEndpoint as error:
            out(f"skip drift: the local AWS does not implement drift detection ({error})")
            return EXIT_OK
        status = self.wait(detection_id, deadline, interval)
        state = status["DetectionStatus"]
        if state == "DETECTION_IN_PROGRESS":
            out(f"FAIL drift: detection {detection_id} still running after {deadline:g} s; run it again later")
            return EXIT_UNHEALTHY
        found = list(self.drifts(stack))
        for drift in found:
            for line in drift.lines():
                out(line)
        faults = [drift for drift in found if not drift.by_design]
        designed = len(found) - len(faults)
        summary = f"{stack}: {len(faults)} drifted resource(s), {designed} {BY_DESIGN_LABEL}"
        if state == "DETECTION_FAILED":
            # Some resources could not be checked: what was found is shown, but no claim of no drift.
            out(f"FAIL drift {summary}; detection incomplete: {status.get('DetectionStatusReason', 'no reason')}")
            return EXIT_UNHEALTHY
        if faults:
            out(f"FAIL drift {summary}")
            return EXIT_UNHEALTHY
        out(f"ok drift {summary}")
        return EXIT_OK


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{value!r} is not a number above 0")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operate.drift", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--deadline", type=_seconds, default=300, help="seconds to wait for the detection")
    parser.add_argument("--interval", type=_seconds, default=5, help="seconds between status reads")
    args = parser.parse_args(argv)

    def command() -> int:
        cloudformation = aws_clients(args.region, args.endpoint_url, ("cloudformation",))["cloudformation"]
        stack = describe_stack(cloudformation, target_stack(args)).name  # a missing stack: one line, exit 1
        try:
            return DriftDetector(cloudformation).report(
                stack, deadline=args.deadline, interval=args.interval)
        except SETUP_ERRORS:
            raise
        except (*AWS_ERRORS, ResponseParserError) as error:  # the parser's error is no BotoCoreError
            print(f"{PROG}: {aws_reason(error)}", file=sys.stderr)
            return EXIT_UNHEALTHY

    return run(command, PROG)


if __name__ == "__main__":
    sys.exit(main())
