"""One JSON line per request, written straight to stdout.

Kept cheap because it runs on every request: the ISO-8601 second prefix is cached,
``json.dumps`` (C accelerated) builds the line and a single ``os.write`` emits it,
so lines from one process never interleave and nothing waits in a buffer.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

# Long header values are cut so one request cannot make a huge log line.
MAX_FIELD_CHARS = 1024

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
_second_cache: list = [-1, ""]  # [epoch second, "YYYY-MM-DDTHH:MM:SS"]


def iso_utc(ts: float) -> str:
    """``ts`` (epoch seconds) as ISO-8601 UTC with milliseconds, e.g. ``2025-01-31T12:00:00.123Z``."""
    sec = int(ts)
    if sec != _second_cache[0]:
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second_cache[0] = sec
    return f"{_second_cache[1]}.{int((ts - sec) * 1000):03d}Z"


def _clip(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS]
    return value


def access_line(
    ts: float,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    request_id: str | None,
    client: str | None,
    forwarded_for: str | None,
    user_agent: str | None,
) -> bytes:
    """The JSON line (with trailing newline) for one request."""
    record = {
        "time": iso_utc(ts),
        "level": "info",
        "msg": "request",
        "method": method,
        "path": _clip(path),
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "request_id": _clip(request_id),
        "client": client,
        "forwarded_for": _clip(forwarded_for),
        "user_agent": _clip(user_agent),
    }
    return _dumps(record).encode("ascii") + b"\n"


def stdout_writer(fd: int | None = None) -> Callable[[bytes], None]:
    """A function that writes whole lines to ``fd`` (stdout by default).

    Write errors (stdout closed, pipe gone) are swallowed: losing a log line must
    never fail or slow down the response that has already been sent.
    """
    if fd is None:
        fd = sys.stdout.fileno()
    write = os.write

    def write_line(line: bytes) -> None:
        try:
            written = write(fd, line)
            while written < len(line):  # short writes only happen for long lines
                line = line[written:]
                written = write(fd, line)
        except OSError:
            pass

    return write_line
