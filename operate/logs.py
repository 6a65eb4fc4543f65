"""Both containers' log lines, merged in time order: `make logs` (and `make local-logs`, against make local's AWS).

The log groups are the stack's outputs EchoLogGroup and NginxLogGroup; each line is labelled with its
container and the short id of its task (the last part of the awslogs stream PREFIX/CONTAINER/TASK_ID).
The JSON request lines of echo and of nginx's access log are printed as method, path, status and latency;
every other line (nginx's errors, startup lines) as it is.

    .venv/bin/python -m operate.logs --env dev --since 15m
    .venv/bin/python -m operate.logs --env dev --container nginx --filter '"status":5' --follow

--filter is a CloudWatch Logs filter pattern, passed to FilterLogEvents as it is. --follow asks again every
2 s until Ctrl-C. Exit 0; 1: no such stack (or its log groups are missing); 2: bad arguments, or no
credentials or region.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from operate.stack import (
    AWS_ERRORS,
    EXIT_OK,
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

PROG = "operate.logs"
OUTPUTS = {"echo": "EchoLogGroup", "nginx": "NginxLogGroup"}
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
POLL_INTERVAL = 2.0
# A poll asks again from this far before the newest line seen: lines can be stored later than newer lines
# of another stream (the awslogs driver sends every 5 s per stream), and must not be skipped. Ids of the
# lines seen in this window keep them from being printed twice.
LOOKBACK_MS = 30_000


class UsageError(Exception):
    """A bad argument value: one line, exit 2."""


def parse_since(value: str) -> int:
    """'30s', '15m', '2h', '1d' -> seconds."""
    match = re.fullmatch(r"(\d+)([smhd])", value.strip())
    if not match or int(match[1]) == 0:
        raise UsageError(f"--since {value!r}: expected a positive number and a unit, e.g. 30s, 15m, 2h or 1d")
    return int(match[1]) * UNITS[match[2]]


@dataclass(frozen=True)
class Line:
    timestamp: int  # milliseconds since the epoch
    container: str
    task: str
    message: str
    event_id: str

    def render(self) -> str:
        when = datetime.fromtimestamp(self.timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return f"{when} {self.container:<5} | {self.task} | {readable(self.message)}"


def readable(message: str) -> str:
    """A request line (echo's or nginx's JSON) as 'GET /path 200 1.2 ms'; any other line as it is."""
    message = message.rstrip("\n")
    if not message.startswith("{"):
        return message
    try:
        record = json.loads(message)
    except ValueError:
        return message
    if not isinstance(record, dict) or "method" not in record or "status" not in record:
        return message
    path = record.get("path", record.get("uri", "?"))
    if "duration_ms" in record:  # echo
        latency = float(record["duration_ms"])
    elif "request_time" in record:  # nginx, in seconds
        latency = float(record["request_time"]) * 1000
    else:
        latency = None
    parts = [str(record["method"]), str(path), str(record["status"])]
    if latency is not None:
        parts.append(f"{latency:.1f} ms")
    if record.get("request_id"):  # the same id in both containers' lines of one request
        parts.append(f"request_id={record['request_id']}")
    return " ".join(parts)


def task_short(stream: str) -> str:
    return stream.rsplit("/", 1)[-1][:8]


class LogReader:
    """Reads the chosen containers' groups: `since()` once, then `new()` on each poll, no line twice."""

    def __init__(self, logs: Any, groups: dict[str, str], *, filter_pattern: str | None = None) -> None:
        self.logs, self.groups, self.filter_pattern = logs, groups, filter_pattern
        self.newest: dict[str, int] = {}  # group -> newest timestamp seen
        self.seen: dict[str, dict[str, int]] = {container: {} for container in groups}  # event id -> timestamp
        self.start_ms = 0

    def since(self, start_ms: int) -> list[Line]:
        self.start_ms = start_ms
        return self._read({container: start_ms for container in self.groups})

    def new(self) -> list[Line]:
        return self._read({container: max(self.start_ms, self.newest.get(container, 0) - LOOKBACK_MS)
                           for container in self.groups})

    def _read(self, starts: dict[str, int]) -> list[Line]:
        lines = []
        for container, group in self.groups.items():
            seen = self.seen[container]
            for event in self._events(group, starts[container]):
                if event["eventId"] in seen:
                    continue
                seen[event["eventId"]] = event["timestamp"]
                lines.append(Line(event["timestamp"], container, task_short(event.get("logStreamName", "")),
                                  event["message"], event["eventId"]))
            if seen:
                newest = max(seen.values())
                self.newest[container] = newest
                # Ids older than the window cannot come back in a later answer: forget them.
                for event_id in [i for i, ts in seen.items() if ts < newest - LOOKBACK_MS]:
                    del seen[event_id]
        # Stable: lines of one timestamp keep their group's order (a stream's order, as stored).
        return sorted(lines, key=lambda line: line.timestamp)

    def _events(self, group: str, start_ms: int) -> Iterator[dict]:
        request: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if self.filter_pattern:
            request["filterPattern"] = self.filter_pattern
        while True:
            answer = self.logs.filter_log_events(**request)
            yield from answer.get("events", [])
            if not answer.get("nextToken") or not answer.get("events"):
                return
            request["nextToken"] = answer["nextToken"]


def show(logs: Any, groups: dict[str, str], *, since_seconds: int, filter_pattern: str | None = None,
         follow: bool = False, out=None, clock: Callable[[], float] = time.time,
         sleep: Callable[[float], None] = time.sleep) -> int:
    out = out or sys.stdout
    reader = LogReader(logs, groups, filter_pattern=filter_pattern)
    lines = reader.since(int((clock() - since_seconds) * 1000))
    for line in lines:
        print(line.render(), file=out)
    out.flush()
    if not follow:
        if not lines:
            print(f"{PROG}: no log lines in the last {_duration(since_seconds)} in {', '.join(groups.values())}",
                  file=sys.stderr)
        return EXIT_OK
    try:
        while True:
            sleep(POLL_INTERVAL)
            for line in reader.new():
                print(line.render(), file=out)
            out.flush()
    except KeyboardInterrupt:  # Ctrl-C is how --follow ends: not an error
        return EXIT_OK


def _duration(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def main(argv: list[str] | None = None, *, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.time) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("--container", choices=sorted(OUTPUTS), help="one container only (default: both)")
    parser.add_argument("--since", default="10m", help="how far back: 30s, 15m, 2h, 1d (default 10m)")
    parser.add_argument("--filter", help="a CloudWatch Logs filter pattern, e.g. '\"status\":500' or ERROR")
    parser.add_argument("--follow", action="store_true", help="keep printing new lines (every 2 s) until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        since_seconds = parse_since(args.since)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_SETUP

    def command() -> int:
        clients = aws_clients(args.region, args.endpoint_url, services=("cloudformation", "logs"))
        stack = describe_stack(clients["cloudformation"], target_stack(args))
        containers = [args.container] if args.container else list(OUTPUTS)
        groups = {container: stack.output(OUTPUTS[container]) for container in containers}
        try:
            return show(clients["logs"], groups, since_seconds=since_seconds, filter_pattern=args.filter,
                        follow=args.follow, clock=clock, sleep=sleep)
        except SETUP_ERRORS:
            raise
        except AWS_ERRORS as error:  # e.g. a log group deleted by hand, or an invalid filter pattern
            print(f"{PROG}: {aws_reason(error)}", file=sys.stderr)
            return EXIT_UNHEALTHY

    return run(command, PROG)


if __name__ == "__main__":
    sys.exit(main())
