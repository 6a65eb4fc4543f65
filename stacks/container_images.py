"""Where the task's two images come from: the seed's public images, this repository's Dockerfiles, or ECR."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"
# Container name -> this repository's image: its build directory and its ECR repository name.
OWN_IMAGES = {"echo": "echo", "nginx": "nginx-proxy"}


def container_images(scope: Construct, *, source: str, public: dict[str, str], image_tag: str | None,
                     platform: ecr_assets.Platform) -> dict[str, ecs.ContainerImage]:
    """One image per container name ("echo", "nginx")."""
    if source == "public":
        return {name: ecs.ContainerImage.from_registry(public[name]) for name in OWN_IMAGES}
    if source == "build":
        # `cdk deploy` builds these and pushes them to the bootstrap repository; synth only stages them.
        return {
            name: ecs.ContainerImage.from_asset(str(SERVICES_DIR / directory), platform=platform)
            for name, directory in OWN_IMAGES.items()
        }
    # ecr: the repositories are created by the registry stack; the execution role gets pull rights on them.
    return {
        name: ecs.ContainerImage.from_ecr_repository(
            ecr.Repository.from_repository_name(scope, f"{name.capitalize()}Repository", repository), tag=image_tag
        )
        for name, repository in OWN_IMAGES.items()
    }
