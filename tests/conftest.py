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
