"""Snapshots of every stack of every environment: any unintended change to a template shows up here.

Asset hashes change with every byte of an asset and CDK's metadata with every CDK release, so both are
normalized away; fine-grained tests hold the meaning, snapshots catch the rest.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synth import ENVIRONMENTS

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalized(template: dict) -> dict:
    template = json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template)))
    template.get("Resources", {}).pop("CDKMetadata", None)
    template.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if not template.get("Conditions", True):
        template.pop("Conditions")
    return template


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_stack_matches_its_snapshot(synthesized, snapshot_json, env):
    templates = synthesized[env].templates
    assert templates, f"{env} synthesized no stacks"
    for stack_name, template in templates.items():
        assert normalized(template) == snapshot_json(name=stack_name)


def test_the_ci_access_stack_matches_its_snapshot(with_ci, snapshot_json):
    assert normalized(with_ci.templates["echo-fargate-ci"]) == snapshot_json(name="echo-fargate-ci")


def test_the_hardened_variant_matches_its_snapshot(hardened, snapshot_json):
    assert normalized(hardened.templates["echo-fargate-prod"]) == snapshot_json(name="echo-fargate-prod-hardened")


def test_normalization_hides_hashes_only():
    digest = "a" * 64
    template = {"Resources": {"Asset": {"Properties": {"Image": f"123.dkr.ecr/x:{digest}", "Port": 80}}}}
    assert normalized(template) == {"Resources": {"Asset": {"Properties": {"Image": "123.dkr.ecr/x:<asset-hash>",
                                                                          "Port": 80}}}}
