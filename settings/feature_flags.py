"""The CDK feature flags and context keys that may appear in the context besides the settings.

A key the app does not know is a mistake: a misspelt feature flag is otherwise ignored by CDK without a word
(this repository's cdk.json once carried `@aws-cdk/aws-ecs:removeDefaultDesiredCount`, a flag that does not
exist), and so is `-c foo:bar=1`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

# Generated from the pinned aws-cdk-lib by `python -m tools.feature_flags`; a test keeps it current.
FLAGS_FILE = Path(__file__).with_name("cdk_feature_flags.json")
# What the CDK CLI adds to the context of every synth.
CLI_KEY_PREFIX = "aws:cdk:"
# Cached lookups in cdk.context.json: "<provider>:account=...:region=...", one prefix per context provider.
_LOOKUP_KEY = re.compile(
    r"(?:ami|availability-zones|hosted-zone|ssm|vpc-provider|endpoint-service-availability-zones|load-balancer"
    r"|load-balancer-listener|security-group|key-provider|plugin|cc-api-provider):.*account=.+"
)


@cache
def known_feature_flags() -> frozenset[str]:
    known = json.loads(FLAGS_FILE.read_text())
    return frozenset(known["flags"]) | frozenset(known["context_keys"])


def is_cdk_key(key: str) -> bool:
    """A key CDK (not this app) reads: set by the CLI, or a cached lookup. Feature flags are checked apart."""
    return key.startswith(CLI_KEY_PREFIX) or bool(_LOOKUP_KEY.fullmatch(key))
