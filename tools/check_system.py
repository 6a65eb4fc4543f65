"""The machine's own programs the tests and `make run` start for real, checked against the versions they need,
so that an older distribution fails at once with one line per program instead of as odd test failures.

    .venv/bin/python -m tools.check_system       # make system-packages runs it after apt

The minimums are the versions the suite runs and was measured with (Debian 12; CircleCI's pinned Ubuntu 24.04
image has newer ones). Older releases differ in ways the tests see: Ubuntu 22.04's busybox 1.30 `sh`, and its
shellcheck 0.8, which lacks checks 0.9 makes on the nginx-proxy entrypoint. The nginx-proxy image itself runs
nginx 1.28 on Alpine's busybox (services/nginx-proxy/Dockerfile).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    name: str
    version_command: list[str]
    pattern: str  # finds the version in the command's output (stdout and stderr)
    minimum: tuple[int, ...]
    package: str  # the Debian/Ubuntu package that provides it

    def found(self) -> tuple[int, ...] | None:
        """The installed version, or None when the program is missing or says no version."""
        if shutil.which(self.version_command[0]) is None:
            return None
        result = subprocess.run(self.version_command, capture_output=True, text=True, timeout=30)
        match = re.search(self.pattern, result.stdout + result.stderr)
        return tuple(int(part) for part in match.group(1).split(".")) if match else None


PROGRAMS = [
    Program("nginx", ["nginx", "-v"], r"nginx/(\d+\.\d+\.\d+)", (1, 22), "nginx"),
    Program("busybox", ["busybox"], r"BusyBox v(\d+\.\d+\.\d+)", (1, 35), "busybox"),
    Program("shellcheck", ["shellcheck", "--version"], r"version: (\d+\.\d+\.\d+)", (0, 9), "shellcheck"),
    Program("envsubst", ["envsubst", "--version"], r"envsubst \(GNU gettext-runtime\) (\d+\.\d+)", (0, 21),
            "gettext-base"),
    Program("wget", ["wget", "--version"], r"GNU Wget (\d+\.\d+)", (1, 21), "wget"),
    Program("wrk", ["wrk", "--version"], r"wrk (?:debian/)?(\d+\.\d+\.\d+)", (4, 1), "wrk"),
]


def _shown(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def problems(programs: list[Program] = PROGRAMS) -> list[str]:
    found = []
    for program in programs:
        version = program.found()
        if version is None:
            found.append(f"{program.name}: not found (Debian/Ubuntu package {program.package})")
        elif version < program.minimum:
            found.append(f"{program.name} {_shown(version)}: the tests need {_shown(program.minimum)} or later "
                         f"(Debian 12's, which they run on); this distribution's {program.package} is older")
    return found


def main() -> int:
    if found := problems():
        print("make system-packages: this machine's programs are not what the tests need:", file=sys.stderr)
        for line in found:
            print(f"  - {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
