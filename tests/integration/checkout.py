"""A copy of this checkout for a test that must change what the others read (cdk.context.json, .run/):
every file git tracks or would add (the working tree as it is, uncommitted changes included), with their
times, and the installed .venv and node_modules linked, not copied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.synth import ROOT


def copy_checkout(destination: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is still listed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            # copy2 keeps modification times: make then finds .venv and node_modules current, not older than
            # their lock files, and installs nothing.
            shutil.copy2(source, destination / name)
    for installed in (".venv", "node_modules"):
        (destination / installed).symlink_to(ROOT / installed)
    return destination
