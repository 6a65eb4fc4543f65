"""Each environment is synthesized once per session; every test module reads the same result."""

from __future__ import annotations

import pytest

from tests.synth import CERTIFICATE_ARN, ENVIRONMENTS, IMAGE_TAG, ROOT, Synthesized, synthesize


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """For make test's `--dist loadgroup`: each test file is one unit of work, its module fixtures (a local
    AWS, a synth) built once in one worker. The integration files, the longest, are handed out first, so that
    none of them is left to start last while the other workers idle."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.path.relative_to(ROOT).as_posix()))
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


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
    """prod with this repository's images from ECR at a commit tag (image_source=ecr, prod's default)."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk.out-ecr"), image_source="ecr", image_tag=IMAGE_TAG)


CIRCLECI_ORG, CIRCLECI_PROJECT = "1b2c3d4e-0000-4000-8000-00000000abcd", "5f6a7b8c-0000-4000-8000-00000000ef01"
VCS_ORIGIN = "github.com/acme/echo-fargate"
DOCKER_HUB_SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/docker-hub-AbCdEf"


@pytest.fixture(scope="session")
def with_ci(tmp_path_factory) -> Synthesized:
    """prod with the CircleCI access stack and the Docker Hub pull-through cache."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk.out-ci"), circleci_org_id=CIRCLECI_ORG,
                      circleci_project_id=CIRCLECI_PROJECT, ci_vcs_origin=VCS_ORIGIN,
                      docker_hub_secret_arn=DOCKER_HUB_SECRET)


@pytest.fixture(scope="session")
def hardened(tmp_path_factory) -> Synthesized:
    """prod with the optional features on: HTTPS by certificate ARN for a domain served elsewhere, blue/green,
    arm64 images built here and an alarm email."""
    return synthesize("prod", tmp_path_factory.mktemp("cdk.out-hardened"), certificate_arn=CERTIFICATE_ARN,
                      domain_name="echo.example.com", deployment_strategy="blue_green", bake_time_minutes="10",
                      image_source="build", cpu_architecture="arm64", alarm_email="ops@example.com")
