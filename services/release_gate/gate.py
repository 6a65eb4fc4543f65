"""The release gate of a blue/green deployment: the AWS Lambda lifecycle hook that ECS calls at
POST_TEST_TRAFFIC_SHIFT, when the load balancer's test listener already sends to the new (green) tasks and
production traffic has not moved yet. It owns the decision "may this release take production traffic?".

It sends GATE_REQUESTS GETs to GATE_URL, one after another, and answers {"hookStatus": "SUCCEEDED"} only when
every one got a healthy answer (probe.judge: any 2xx with the expected body, or the 401 Basic challenge when
the service asks for a login) and the p99 latency (nearest rank) is within GATE_P99_MS. Anything else,
its own bad configuration included, is {"hookStatus": "FAILED"}, and ECS rolls the deployment back. It logs
one JSON line with the decision and what it rests on.

Configured only by environment variables, which the stack sets (an empty one counts as unset):
    GATE_URL              the test listener's URL, e.g. https://echo.example.com:8443/ (required)
    GATE_P99_MS           the p99 latency limit, in milliseconds (required)
    GATE_EXPECT_BODY      the body a healthy task answers, trailing newline aside (default "Hello Docker!!")
    GATE_REQUESTS         how many requests, 1 to 200 (default 20)
    GATE_TIMEOUT_SECONDS  per request (default 5); GATE_REQUESTS x this must stay within 100 s
    GATE_AUTH_REQUIRED    "true" when the service asks for a Basic login (default "false")

The Lambda asset is this directory as it is (handler "gate.handler", Python 3.14 runtime, 120 s timeout):
standard library only, nothing to install.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

if __package__:  # imported from the repository (tests, tools) as services.release_gate.gate
    from .probe import ANY_2XX, TRANSPORT_ERRORS, Expectation, http_get, judge, transport_problem
else:  # Lambda imports gate.py as a top-level module from the asset's root, where probe.py lies beside it
    from probe import ANY_2XX, TRANSPORT_ERRORS, Expectation, http_get, judge, transport_problem

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
DEFAULT_BODY = "Hello Docker!!"
DEFAULT_REQUESTS, MAX_REQUESTS = 20, 200
DEFAULT_TIMEOUT_SECONDS = 5.0
# The stack gives the function 120 s. Requests one after another, each at most its timeout, must end well
# before that, so that the gate, not Lambda's timeout, decides and its log line is written.
MAX_TOTAL_SECONDS = 100.0
# Kept back from Lambda's remaining time (when the function got less than the stack's 120 s) for the log line
# and the answer to ECS.
LAMBDA_RESERVE_SECONDS = 10.0
SHOWN_PROBLEMS = 5  # in the log line: enough to see the pattern of a failure, short enough to read
PROBLEM_CHARS = 160  # a transport error can quote what a non-HTTP peer sent: keep only its start


class ConfigurationError(ValueError):
    """The gate's environment is missing or wrong; the message names the variable and what it must be."""


@dataclass(frozen=True)
class GateConfig:
    url: str
    expected: Expectation
    requests: int
    p99_limit_ms: float
    timeout_seconds: float


@dataclass
class Run:
    """What the requests of one invocation found."""

    planned: int
    sent: int = 0
    healthy: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of the requests that got an HTTP answer
    problems: list[str] = field(default_factory=list)  # one per unhealthy request, in order
    out_of_time: bool = False

    @property
    def unhealthy(self) -> int:
        return self.sent - self.healthy


def read_config(environ: Mapping[str, str]) -> GateConfig:
    """The gate's configuration from `environ`; raises ConfigurationError on the first variable that is wrong."""
    url = _setting(environ, "GATE_URL")
    if url is None:
        raise ConfigurationError("GATE_URL is not set: the test listener's URL, e.g. http://alb-dns:8080/")
    _check_url(url)
    p99_text = _setting(environ, "GATE_P99_MS")
    if p99_text is None:
        raise ConfigurationError("GATE_P99_MS is not set: the p99 latency limit in milliseconds")
    p99_limit_ms = _positive_number("GATE_P99_MS", p99_text)
    requests = _requests(_setting(environ, "GATE_REQUESTS"))
    timeout_text = _setting(environ, "GATE_TIMEOUT_SECONDS")
    timeout_seconds = DEFAULT_TIMEOUT_SECONDS if timeout_text is None else _positive_number(
        "GATE_TIMEOUT_SECONDS", timeout_text)
    if requests * timeout_seconds > MAX_TOTAL_SECONDS:
        raise ConfigurationError(
            f"GATE_REQUESTS x GATE_TIMEOUT_SECONDS = {requests} x {timeout_seconds:g} s could take "
            f"{requests * timeout_seconds:g} s, more than {MAX_TOTAL_SECONDS:g} s (the function has 120 s)")
    body = environ.get("GATE_EXPECT_BODY") or DEFAULT_BODY  # not stripped: spaces may be part of the body
    login = _auth_required(_setting(environ, "GATE_AUTH_REQUIRED"))
    return GateConfig(url=url, expected=Expectation(body=body, statuses=ANY_2XX, login_challenge=login),
                      requests=requests, p99_limit_ms=p99_limit_ms, timeout_seconds=timeout_seconds)


def send_requests(config: GateConfig, *, time_left: float = MAX_TOTAL_SECONDS) -> Run:
    """Sends config.requests GETs one after another, without credentials, and judges each. Every request is
    sent even after a failure: 1 failure in 20 (flaky) and 20 in 20 (broken) call for different fixes, and
    the wait is bounded. A request that could not end within `time_left` seconds, were it to take its whole
    timeout, is not started."""
    run = Run(planned=config.requests)
    deadline = time.perf_counter() + time_left
    for number in range(1, config.requests + 1):
        started = time.perf_counter()
        if started + config.timeout_seconds > deadline:
            run.out_of_time = True
            break
        run.sent += 1
        try:
            answer = http_get(config.url, timeout=config.timeout_seconds)
        except TRANSPORT_ERRORS as error:
            run.problems.append(_clip(f"request {number}: {transport_problem(error)}"))
            continue
        run.latencies_ms.append((time.perf_counter() - started) * 1000)
        if problem := judge(answer, config.expected):
            run.problems.append(_clip(f"request {number}: {problem}"))
        else:
            run.healthy += 1
    return run


def nearest_rank(values: list[float], percent: int) -> float:
    """The `percent` percentile of `values` by the nearest-rank rule: the smallest value that at least
    `percent` % of them do not exceed, i.e. the ceil(percent/100 x n)-th smallest (p99 of 100 is the 99th)."""
    if not values:
        raise ValueError("no values")
    rank = -(-percent * len(values) // 100)  # ceil in integers: no float rounding at the boundary
    return sorted(values)[max(rank, 1) - 1]


def decide(config: GateConfig, run: Run) -> tuple[str, str]:
    """SUCCEEDED or FAILED, with the reason in one sentence."""
    # Out of time is mostly the consequence of failures (requests that waited out their timeout): those first.
    out_of_time = (f"the time ran out after {run.sent} of {run.planned} requests (another could take "
                   f"{config.timeout_seconds:g} s)") if run.out_of_time else ""
    if run.unhealthy:
        return FAILED, (f"{run.unhealthy} of {run.sent} requests failed; the error rate must be 0"
                        + (f", and {out_of_time}" if out_of_time else ""))
    if out_of_time:
        return FAILED, out_of_time
    p99 = nearest_rank(run.latencies_ms, 99)
    if p99 > config.p99_limit_ms:
        return FAILED, f"p99 latency {p99:.1f} ms is above GATE_P99_MS={config.p99_limit_ms:g} ms"
    return SUCCEEDED, (f"{run.healthy} of {run.planned} requests healthy, "
                       f"p99 {p99:.1f} ms within {config.p99_limit_ms:g} ms")


def handler(event: Any, context: Any) -> dict[str, str]:
    """The Lambda entry point. An unexpected exception is left to propagate: ECS rolls back on it too, and
    Lambda logs its traceback."""
    details = event if isinstance(event, dict) else {}
    record: dict[str, Any] = {
        "lifecycle_stage": details.get("lifecycleStage"),
        "execution_id": details.get("executionId"),
        "target_revision_arn": (details.get("executionDetails") or {}).get("targetServiceRevisionArn"),
    }
    try:
        config = read_config(os.environ)
    except ConfigurationError as error:
        decision, reason = FAILED, f"bad configuration: {error}"
    else:
        run = send_requests(config, time_left=_time_left(context))
        decision, reason = decide(config, run)
        record |= _summary(config, run)
    # One line, so that one CloudWatch Logs event (and one Logs Insights row) holds the whole decision.
    print(json.dumps({"decision": decision, "reason": reason, **record}), flush=True)
    return {"hookStatus": decision}


def _summary(config: GateConfig, run: Run) -> dict[str, Any]:
    latencies = run.latencies_ms

    def statistic(percent: int) -> float | None:
        return round(nearest_rank(latencies, percent), 1) if latencies else None

    return {
        "url": config.url, "requests": run.planned, "sent": run.sent, "healthy": run.healthy,
        "unhealthy": run.unhealthy, "p50_ms": statistic(50), "p99_ms": statistic(99),
        "max_ms": round(max(latencies), 1) if latencies else None, "p99_limit_ms": config.p99_limit_ms,
        "problems": run.problems[:SHOWN_PROBLEMS],
    }


def _time_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:  # called outside Lambda (tests, a console test event without a context)
        return MAX_TOTAL_SECONDS
    return min(MAX_TOTAL_SECONDS, remaining() / 1000 - LAMBDA_RESERVE_SECONDS)


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number in range
    except ValueError as error:
        raise ConfigurationError(f"GATE_URL {url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"GATE_URL {url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        # The gate sends no credentials; a password in the URL would only end up in the log line.
        raise ConfigurationError("GATE_URL must not carry credentials (user:password@)")


def _positive_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name}={text!r} must be a number above 0")
    return value


def _requests(text: str | None) -> int:
    if text is None:
        return DEFAULT_REQUESTS
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"GATE_REQUESTS={text!r} is not a whole number") from None
    if not 1 <= value <= MAX_REQUESTS:
        raise ConfigurationError(f"GATE_REQUESTS={value} must be from 1 to {MAX_REQUESTS}")
    return value


def _auth_required(text: str | None) -> bool:
    # Strict: a typo such as "yes" must not quietly probe for the wrong answer.
    if text is None or text.lower() == "false":
        return False
    if text.lower() == "true":
        return True
    raise ConfigurationError(f"GATE_AUTH_REQUIRED={text!r} must be true or false")


def _clip(problem: str) -> str:
    return problem if len(problem) <= PROBLEM_CHARS else problem[:PROBLEM_CHARS - 3] + "..."
