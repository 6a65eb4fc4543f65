"""Ships the local task's log lines into the local AWS's CloudWatch Logs, as Fargate's awslogs driver does.

Each container's task definition names its log group (awslogs-group, a {"Ref": ...} to the stack's log
group) and a stream prefix; a task writes to the stream PREFIX/CONTAINER/TASK_ID, created when the task
starts. Lines (stdout and stderr alike) are batched in order and sent with PutLogEvents, each with the
time it was read. One background thread per stream sends; the task's processes only ever hand a line to
a bounded queue, so a slow or dead local AWS never blocks them: lines that cannot be sent are dropped,
with one warning line for the whole run (the runner's own log still has every line).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# CloudWatch Logs' PutLogEvents limits: 10,000 events and 1,048,576 bytes a batch, each event counted
# as its UTF-8 message plus 26 bytes; one event at most 256 KiB (the awslogs driver splits longer lines).
MAX_BATCH_EVENTS, MAX_BATCH_BYTES, EVENT_OVERHEAD = 10_000, 1_048_576, 26
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
FLUSH_INTERVAL = 1.0  # the driver's default is 5 s; a local `make local-logs` should see lines sooner
QUEUE_LINES = 50_000  # beyond this the local AWS is not keeping up: drop rather than grow without bound
# A local AWS that is gone refuses at once; one that hangs must not hold a batch for long either.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})


class ShippingError(Exception):
    """Where to ship could not be worked out; the message says why."""


@dataclass(frozen=True)
class Destination:
    group: str  # the physical log group name
    prefix: str  # awslogs-stream-prefix

    def stream(self, container: str, task_id: str) -> str:
        return f"{self.prefix}/{container}/{task_id}"


def awslogs_options(template_path: Path) -> dict[str, dict[str, Any]]:
    """Container name -> its awslogs options, from the task definition in a synthesized template."""
    resources = json.loads(template_path.read_text())["Resources"]
    (task,) = [r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    options = {}
    for container in task["Properties"]["ContainerDefinitions"]:
        logging = container.get("LogConfiguration") or {}
        if logging.get("LogDriver") == "awslogs":
            options[container["Name"]] = logging["Options"]
    return options


def resolve_destinations(template_path: Path, stack: str, cloudformation: Any) -> dict[str, Destination]:
    """Container -> where its lines go: the awslogs-group Ref resolved to the deployed log group's name."""
    try:
        options = awslogs_options(template_path)
    except (OSError, ValueError, KeyError) as error:
        raise ShippingError(f"cannot read the awslogs options from {template_path}: {error}") from None
    try:
        resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    except (ClientError, BotoCoreError) as error:
        raise ShippingError(f"cannot read the resources of stack {stack}: {error}") from None
    # .get: moto's server lists some resources (e.g. the CDK metadata) without a logical id.
    physical = {r.get("LogicalResourceId"): r.get("PhysicalResourceId") for r in resources}
    destinations = {}
    for container, option in options.items():
        group = option.get("awslogs-group")
        if isinstance(group, dict):  # {"Ref": logical id}: the group the stack created
            group = physical.get(group.get("Ref"))
        if not isinstance(group, str) or not group:
            raise ShippingError(f"stack {stack} has no log group {option.get('awslogs-group')} for {container}")
        destinations[container] = Destination(group=group, prefix=option.get("awslogs-stream-prefix", container))
    return destinations


class Warner:
    """One warning line for the whole run, however many streams fail, however often."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self.warned = False

    def __call__(self, message: str) -> None:
        with self._lock:
            if self.warned:
                return
            self.warned = True
        self._write(f"log shipping: {message}; dropping log lines for CloudWatch Logs (this log keeps them)")


class StreamShipper:
    """One log stream: `ship(line)` queues a line (never blocks), a background thread sends batches."""

    def __init__(self, logs: Any, group: str, stream: str, *, warn: Warner,
                 flush_interval: float = FLUSH_INTERVAL, queue_lines: int = QUEUE_LINES,
                 clock: Callable[[], float] = time.time) -> None:
        self.logs, self.group, self.stream, self.warn = logs, group, stream, warn
        self.flush_interval, self.clock = flush_interval, clock
        self._queue: queue.Queue = queue.Queue(maxsize=queue_lines)
        # Timestamp and enqueue under one lock: stdout and stderr are read by two threads, and PutLogEvents
        # wants each stream's events in time order, so queue order must be time order.
        self._lock = threading.Lock()
        self._last_ms = 0
        self._created = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ship {stream}", daemon=True)
        self._thread.start()

    def ship(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line:
            return  # CloudWatch refuses empty messages; the awslogs driver skips them too
        with self._lock:
            # Never earlier than the last line, even if the wall clock steps back.
            self._last_ms = max(self._last_ms, int(self.clock() * 1000))
            try:
                for chunk in _split(line):
                    self._queue.put_nowait((self._last_ms, chunk))
            except queue.Full:
                self.warn(f"{self.stream}: more than {self._queue.maxsize} lines waiting")

    def close(self, timeout: float = 10.0) -> None:
        """Sends what is queued (within `timeout`), then stops the thread."""
        self._closed.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            closing = self._closed.wait(self.flush_interval)
            batch = self._drain()
            while batch:
                self._send(batch)
                batch = self._drain()
            if closing:
                return

    def _drain(self) -> list[dict]:
        events, size = [], 0
        while len(events) < MAX_BATCH_EVENTS:
            try:
                timestamp, message = self._queue.get_nowait()
            except queue.Empty:
                break
            events.append({"timestamp": timestamp, "message": message})
            size += len(message.encode()) + EVENT_OVERHEAD
            if size >= MAX_BATCH_BYTES - MAX_EVENT_BYTES - EVENT_OVERHEAD:
                break  # the next event could overflow the batch
        return events

    def _send(self, events: list[dict]) -> None:
        try:
            if not self._created:
                try:
                    self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                        raise
                self._created = True
            self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=events)
        except (ClientError, BotoCoreError) as error:
            self.warn(f"{self.group} {self.stream}: {error}")


def _split(line: str) -> list[str]:
    data = line.encode()
    if len(data) <= MAX_EVENT_BYTES:
        return [line]
    return [data[i:i + MAX_EVENT_BYTES].decode(errors="ignore") for i in range(0, len(data), MAX_EVENT_BYTES)]


class TaskLogs:
    """The streams of one task start: one per container, under a made-up task id."""

    def __init__(self, logs: Any, destinations: dict[str, Destination], warn: Warner, **shipper) -> None:
        self.task_id = uuid.uuid4().hex  # as an ECS task id: 32 hex digits
        self.shippers = {
            container: StreamShipper(logs, destination.group, destination.stream(container, self.task_id),
                                     warn=warn, **shipper)
            for container, destination in destinations.items()
        }

    def close(self) -> None:
        for shipper in self.shippers.values():
            shipper.close()


class LogShipping:
    """Where a run's tasks ship to; `start_task()` opens the streams of each new task."""

    def __init__(self, logs: Any, destinations: dict[str, Destination], warn: Warner | None = None,
                 **shipper) -> None:
        self.logs, self.destinations = logs, destinations
        self.warn = warn or Warner()
        self.shipper = shipper

    @classmethod
    def for_stack(cls, template_path: Path, stack: str, **shipper) -> LogShipping:
        """From the environment's AWS settings (AWS_ENDPOINT_URL and the rest, as boto3 reads them)."""
        try:
            session = boto3.Session()
            cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
            logs = session.client("logs", config=CLIENT_CONFIG)
        except BotoCoreError as error:  # e.g. no region
            raise ShippingError(str(error)) from None
        return cls(logs, resolve_destinations(template_path, stack, cloudformation), **shipper)

    def start_task(self) -> TaskLogs:
        return TaskLogs(self.logs, self.destinations, self.warn, **self.shipper)


def pump(pipe, out_fd: int, ship: Callable[[str], None] | None) -> threading.Thread:
    """A thread copying `pipe`'s lines to `out_fd` (the runner's log) and handing each to `ship`."""
    def copy() -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                # One write per line: lines from several pipes never interleave. A runner's log that is
                # gone must not stop the copying: the line still goes to CloudWatch.
                with contextlib.suppress(OSError):
                    os.write(out_fd, raw)
                if ship is not None:
                    ship(raw.decode(errors="replace"))

    thread = threading.Thread(target=copy, name=f"pump fd {pipe.fileno()}", daemon=True)
    thread.start()
    return thread
