"""Where the task's two images come from: the seed's public images, this repository's Dockerfiles, or ECR."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from stacks.registry import REPOSITORY_NAMES

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"
# Container name -> the directory its image is built from.
BUILD_DIRECTORIES = {"echo": "echo", "nginx": "nginx-proxy"}


def container_images(scope: Construct, *, source: str, public: dict[str, str], image_tag: str | None,
                     platform: ecr_assets.Platform) -> dict[str, ecs.ContainerImage]:
    """One image per container name ("echo", "nginx")."""
    if source == "public":
        return {name: ecs.ContainerImage.from_registry(public[name]) for name in BUILD_DIRECTORIES}
    if source == "build":
        # `cdk deploy` builds these and pushes them to the bootstrap repository; synth only stages them.
        return {
            name: ecs.ContainerImage.from_asset(str(SERVICES_DIR / directory), platform=platform)
            for name, directory in BUILD_DIRECTORIES.items()
        }
    # ecr: the repositories are created by the registry stack; the execution role gets pull rights on them.
    return {
        name: ecs.ContainerImage.from_ecr_repository(
            ecr.Repository.from_repository_name(scope, f"{name.capitalize()}Repository", repository), tag=image_tag
        )
        for name, repository in REPOSITORY_NAMES.items()
    }
