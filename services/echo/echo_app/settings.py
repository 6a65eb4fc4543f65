"""Settings read from the environment, validated up front (standard library only).

Every value is checked before the server starts, so a typo in a task definition
fails the container at once with a one-line message instead of a traceback or a
server listening somewhere unexpected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "0.0.0.0"  # all interfaces: the container port is published by ECS
DEFAULT_PORT = 8080
DEFAULT_SHUTDOWN_TIMEOUT = 20.0
DEFAULT_KEEP_ALIVE_TIMEOUT = 75
MAX_SHUTDOWN_TIMEOUT = 3600.0
MAX_KEEP_ALIVE_TIMEOUT = 3600
MAX_DELAY_CEILING_MS = 600_000

_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


class ConfigError(ValueError):
    """A setting in the environment is invalid; the message is one line for a human."""


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT
    max_delay_ms: int = 0  # 0 = the delay_ms query parameter is ignored

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        host = env.get("HOST", DEFAULT_HOST)
        if not host or host != host.strip():
            raise ConfigError(f"HOST must be a non-empty host name or address, got {host!r}")
        return cls(
            host=host,
            port=parse_port(env.get("PORT")),
            shutdown_timeout=_parse_seconds(
                "SHUTDOWN_TIMEOUT",
                env.get("SHUTDOWN_TIMEOUT"),
                DEFAULT_SHUTDOWN_TIMEOUT,
            ),
            keep_alive_timeout=_parse_int(
                "KEEP_ALIVE_TIMEOUT",
                env.get("KEEP_ALIVE_TIMEOUT"),
                DEFAULT_KEEP_ALIVE_TIMEOUT,
                1,
                MAX_KEEP_ALIVE_TIMEOUT,
            ),
            max_delay_ms=_parse_int(
                "ECHO_MAX_DELAY_MS",
                env.get("ECHO_MAX_DELAY_MS"),
                0,
                0,
                MAX_DELAY_CEILING_MS,
            ),
        )


def parse_port(raw: str | None) -> int:
    """PORT: an integer 1-65535; unset means 8080."""
    return _parse_int("PORT", raw, DEFAULT_PORT, 1, 65535)


def _parse_int(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return int(raw)


def _parse_seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    value = float(raw) if _NUMBER.fullmatch(raw) else math.nan
    if not 0 <= value <= MAX_SHUTDOWN_TIMEOUT:  # also rejects nan
        raise ConfigError(f"{name} must be a number of seconds from 0 to {MAX_SHUTDOWN_TIMEOUT:g}, got {raw!r}")
    return value
