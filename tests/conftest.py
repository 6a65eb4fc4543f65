"""Each environment is synthesized once per session; every test module reads the same result."""

from __future__ import annotations

import pytest

from tests.synth import ENVIRONMENTS, Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, Synthesized]:
    return {env: synthesize(env, tmp_path_factory.mktemp(f"cdk.out-{env}")) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def dev(synthesized) -> Synthesized:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def prod(synthesized) -> Synthesized:
    return synthesized["prod"]


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def each_env(request, synthesized) -> Synthesized:
    return synthesized[request.param]


@pytest.fixture(scope="session")
def built_images(tmp_path_factory) -> Synthesized:
    """dev with this repository's images built from services/ (image_source=build)."""
    return synthesize("dev", tmp_path_factory.mktemp("cdk.out-build"), image_source="build")


@pytest.fixture(scope="session")
def ecr_images(tmp_path_factory) -> Synthesized:
    """prod with this repository's images from ECR at a commit tag (image_source=ecr)."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk.out-ecr"), image_source="ecr", image_tag="0a1b2c3d")
