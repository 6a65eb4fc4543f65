"""The traffic `make report` prices: monthly averages per environment, from a small TOML file.

    make report USAGE=my-usage.toml

A section per environment of cdk.json (`[dev]`, `[prod]`) with any of the fields below; what a section leaves
out, and every environment without a section, takes the default profile (measure/default_usage.toml, which is
also the example to copy). Every mistake is reported at once, with the file, the section and the field.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_USAGE = Path(__file__).resolve().with_name("default_usage.toml")
SECONDS_PER_MONTH = 730 * 3600


class Usage(BaseModel):
    """One environment's traffic, averaged over a month."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    requests_per_second: float = Field(ge=0, le=1_000_000, description="requests the load balancer receives")
    request_bytes: int = Field(ge=0, le=100_000_000, description="average request size, headers included")
    response_bytes: int = Field(ge=0, le=100_000_000, description="average response size, headers included")
    new_connections_per_second: float = Field(ge=0, le=1_000_000, description="client connections opened")
    active_connections: float = Field(ge=0, le=100_000_000, description="client connections open at a time")
    rule_evaluations_per_second: float | None = Field(
        None, ge=0, le=100_000_000, description="listener rule evaluations beyond the 10 free ones; by default "
        "requests x (the rules of the busiest listener in the template - 10)")
    app_log_bytes_per_request: int = Field(ge=0, le=1_000_000, description="what the containers log per request")
    deploys_per_month: float = Field(ge=0, le=100_000, description="deploys, each starting every task anew")
    image_pull_mb: float = Field(ge=0, le=100_000, description="what a task start pulls (both images, compressed)")

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_only(cls, value: Any) -> Any:
        # TOML gives ints and floats; a bool is an int to Python, and a string is a mistake in this file.
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            raise ValueError(f"must be a number, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("request_bytes", "response_bytes", "app_log_bytes_per_request", mode="before")
    @classmethod
    def _whole_bytes(cls, value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_second * SECONDS_PER_MONTH


@dataclass(frozen=True)
class Profile:
    """The usage of each environment, and where it came from."""

    usage: Mapping[str, Usage]
    source: str  # what the report prints


class UsageError(ValueError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: the usage file has {len(problems)} problem(s):\n"
                         + "\n".join(f"  - {problem}" for problem in problems))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as error:
        raise UsageError(path, [f"cannot read it: {error.strerror}"]) from error
    except tomllib.TOMLDecodeError as error:
        raise UsageError(path, [f"not valid TOML: {error}"]) from error


def _describe(section: str, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or section
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, Usage.model_fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(Usage.model_fields)})"
            problems.append(f"[{section}] {name}: unknown field{hint}")
        elif item["type"] == "missing":
            problems.append(f"[{section}] {name}: missing: the default profile has no [{section}] section; give "
                            f"every field in your usage file's [{section}], or add the section to {DEFAULT_USAGE.name}")
        else:
            problems.append(f"[{section}] {name}={item.get('input')!r}: {item['msg'].removeprefix('Value error, ')}")
    return problems


def _profiles(path: Path, data: Mapping[str, Any], environments: list[str],
              defaults: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Usage], list[str]]:
    problems: list[str] = []
    usage: dict[str, Usage] = {}
    for section, fields in data.items():
        if not isinstance(fields, Mapping):
            where = f"[{section}] section of fields" if section in environments else "field of an [env] section"
            problems.append(f"{section} = {fields!r}: outside any [env] section; it must be a {where}")
        elif section not in environments:
            problems.append(f"[{section}]: no environment of that name in cdk.json ({', '.join(environments)})")
    for env in environments:
        fields = data.get(env)
        try:
            usage[env] = Usage(**{**defaults.get(env, {}), **(fields if isinstance(fields, Mapping) else {})})
        except ValidationError as error:
            problems += _describe(env, error)
    return usage, problems


def load_usage(path: Path | None, environments: list[str]) -> Profile:
    """The usage of every environment: `path`'s sections over the default profile (all of it without `path`)."""
    defaults = _read(DEFAULT_USAGE)
    data = defaults if path is None else _read(path)
    usage, problems = _profiles(path or DEFAULT_USAGE, data, environments, defaults)
    if problems:
        raise UsageError(path or DEFAULT_USAGE, problems)
    if path is None:
        return Profile(usage, f"the default profile ({DEFAULT_USAGE.name}: give yours with USAGE=file.toml)")
    given = [env for env in environments if env in data]
    rest = [env for env in environments if env not in data]
    return Profile(usage, f"{path} ({', '.join(given) or 'no environment'})"
                   + (f"; the default profile for {', '.join(rest)}" if rest else ""))
