"""tools/check_system.py: the Debian programs the tests start, refused with one line each when missing or older
than the tests need (Ubuntu 22.04's nginx 1.18 and busybox 1.30, say), accepted at the versions they run on."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys

import pytest

from tests.synth import ROOT
from tools import check_system


def _fake(directory, name: str, output: str, *, stream: str = "stdout") -> None:
    """A program `name` that prints `output` on `stream`, whatever it is asked."""
    script = directory / name
    # printf is the shell's own: the tests put nothing else on PATH
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(output)} >&{1 if stream == 'stdout' else 2}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def ubuntu_2204(tmp_path, monkeypatch):
    """The versions a CircleCI ubuntu-2204 image's apt gives."""
    _fake(tmp_path, "nginx", "nginx version: nginx/1.18.0 (Ubuntu)", stream="stderr")
    _fake(tmp_path, "busybox", "BusyBox v1.30.1 (Ubuntu 1:1.30.1-7ubuntu3) multi-call binary.")
    _fake(tmp_path, "shellcheck", "ShellCheck - shell script analysis tool\nversion: 0.8.0")
    _fake(tmp_path, "envsubst", "envsubst (GNU gettext-runtime) 0.21")
    _fake(tmp_path, "wget", "GNU Wget 1.21.2 built on linux-gnu.")
    monkeypatch.setenv("PATH", str(tmp_path))  # and no wrk at all
    return tmp_path


def test_older_and_missing_programs_are_named_with_what_the_tests_need(ubuntu_2204):
    assert check_system.problems() == [
        "nginx 1.18.0: the tests need 1.22 or later (Debian 12's, which they run on); this distribution's nginx is "
        "older",
        "busybox 1.30.1: the tests need 1.35 or later (Debian 12's, which they run on); this distribution's busybox "
        "is older",
        "shellcheck 0.8.0: the tests need 0.9 or later (Debian 12's, which they run on); this distribution's "
        "shellcheck is older",
        "wrk: not found (Debian/Ubuntu package wrk)",
    ]


def test_the_command_fails_with_one_line_each(ubuntu_2204):
    env = {**os.environ, "PATH": str(ubuntu_2204)}
    result = subprocess.run([sys.executable, "-m", "tools.check_system"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n  - ") == 4 and "nginx 1.18.0" in result.stderr


def test_newer_versions_pass(tmp_path, monkeypatch):
    # CircleCI's pinned ubuntu-2404 image: nginx 1.24, busybox 1.36, shellcheck 0.9
    _fake(tmp_path, "nginx", "nginx version: nginx/1.24.0 (Ubuntu)", stream="stderr")
    _fake(tmp_path, "busybox", "BusyBox v1.36.1 (Ubuntu 1:1.36.1-6ubuntu3.1) multi-call binary.")
    _fake(tmp_path, "shellcheck", "ShellCheck - shell script analysis tool\nversion: 0.9.0")
    _fake(tmp_path, "envsubst", "envsubst (GNU gettext-runtime) 0.21")
    _fake(tmp_path, "wget", "GNU Wget 1.21.4 built on linux-gnu.")
    _fake(tmp_path, "wrk", "wrk debian/4.1.0-4build2 [epoll] Copyright (C) 2012 Will Glozer")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert check_system.problems() == []


def test_this_machine_has_what_the_tests_need():
    # make test runs the check before the suite; here it is the same check, so that it shows in the results too.
    assert check_system.problems() == []
