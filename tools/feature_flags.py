"""Writes settings/cdk_feature_flags.json: every feature flag the pinned aws-cdk-lib knows, read from its own
package (cx-api/lib/features.js inside the jsii tarball), and the other "@aws-cdk/..." context keys that
aws-cdk-lib and the pinned CDK CLI use, so that a misspelt flag in cdk.json or on the command line is an
error instead of a silently ignored key.

    .venv/bin/python -m tools.feature_flags          # after upgrading aws-cdk-lib or the CDK CLI
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tarfile
from importlib import metadata
from pathlib import Path

from settings.feature_flags import FLAGS_FILE

ROOT = Path(__file__).resolve().parents[1]

_EXPORTED_FLAG = re.compile(r'exports\.[A-Za-z0-9_]+="(@[^"]+)"')


# Any "@aws-cdk.../...:name" string: the other context keys that aws-cdk-lib's core and the CDK CLI read or set
# (e.g. @aws-cdk/core:permissionsBoundary, or @aws-cdk/core:failSynthOnValidationErrors from `cdk validate`).
_CONTEXT_KEY = re.compile(r'"(@aws-cdk[\w-]*/[\w.-]+:[\w-]+)"')
CLI_BUNDLE = ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js"


def flags_of_installed_cdk() -> dict:
    version = metadata.version("aws-cdk-lib")
    # Found without importing aws_cdk, which would start jsii and Node for nothing.
    package = Path(importlib.util.find_spec("aws_cdk").submodule_search_locations[0])
    tarball = package / "_jsii" / f"aws-cdk-lib@{version}.jsii.tgz"
    context_keys: set[str] = set()
    with tarfile.open(tarball) as archive:
        flags = set(_EXPORTED_FLAG.findall(archive.extractfile("package/cx-api/lib/features.js").read().decode()))
        for member in archive.getmembers():
            if member.name.endswith(".js") and member.name.startswith(("package/core/lib/", "package/cx-api/lib/")):
                context_keys |= set(_CONTEXT_KEY.findall(archive.extractfile(member).read().decode()))
    cli = json.loads((CLI_BUNDLE.parents[1] / "package.json").read_text())["version"]
    context_keys |= set(_CONTEXT_KEY.findall(CLI_BUNDLE.read_text()))
    return {"aws-cdk-lib": version, "aws-cdk": cli, "flags": sorted(flags),
            "context_keys": sorted(context_keys - flags)}


def main() -> int:
    FLAGS_FILE.write_text(json.dumps(flags_of_installed_cdk(), indent=1) + "\n")
    print(f"wrote {FLAGS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
