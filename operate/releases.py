"""Which images a service runs and which releases ECR keeps: what `make rollback` chooses from.

The pipeline adds the tag `release-<commit>` to both images of a deploy it has verified (.circleci/config.yml
`mark-released`); the registry never expires those (stacks/registry.py), so they are what a rollback goes to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stacks.echo_task import ECHO_CONTAINER
from stacks.registry import RELEASE_TAG_PREFIX, REPOSITORY_NAMES


class NotOnEcrImages(Exception):
    """The service does not run this repository's ECR images; the message names the setting."""


@dataclass(frozen=True)
class Image:
    repository: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime


def running_image(ecs: Any, cluster: str, service: str) -> str:
    """The echo container's image in the task definition of the service's PRIMARY deployment."""
    (described,) = ecs.describe_services(cluster=cluster, services=[service])["services"] or [None]
    if described is None or described.get("status") != "ACTIVE":
        raise NotOnEcrImages(f"service {service} not found (or not ACTIVE) in cluster {cluster}")
    primary = next((d for d in described.get("deployments", []) if d["status"] == "PRIMARY"), None)
    # A PRIMARY deployment is what ECS converges to; the service's own taskDefinition says the same without one.
    task_definition = primary["taskDefinition"] if primary else described["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    container = next((c for c in definition["containerDefinitions"] if c["name"] == ECHO_CONTAINER), None)
    if container is None:
        raise NotOnEcrImages(f"{task_definition.rsplit('/', 1)[-1]} has no {ECHO_CONTAINER} container")
    return container["image"]


def ecr_tag(image: str) -> str:
    """The tag of `ACCOUNT.dkr.ecr.REGION.amazonaws.com/echo-fargate/echo:TAG`, or NotOnEcrImages saying why not."""
    name, _, tag = image.rpartition(":")
    registry, _, repository = name.partition("/")
    if ".dkr.ecr." in registry and repository == REPOSITORY_NAMES[ECHO_CONTAINER] and tag and "/" not in tag:
        return tag
    if ".dkr.ecr." in registry and "container-assets" in repository:
        source = "image_source=build (images the CDK built and pushed as assets, not tagged releases)"
    else:
        source = "image_source=public (the seed's images)" if ".dkr.ecr." not in registry else "an unknown image"
    raise NotOnEcrImages(f"the service runs {image}: {source}; a rollback goes back to release images of "
                         f"image_source=ecr, so deploy with -c image_source=ecr -c image_tag=TAG first")


def images(ecr: Any, repository: str) -> Iterator[Image]:
    pages = ecr.get_paginator("describe_images").paginate(repositoryName=repository,
                                                          filter={"tagStatus": "TAGGED"})
    for page in pages:
        for detail in page["imageDetails"]:
            yield Image(repository, detail["imageDigest"], tuple(detail.get("imageTags", [])), detail["imagePushedAt"])


def by_tag(found: Iterator[Image]) -> dict[str, Image]:
    return {tag: image for image in found for tag in image.tags}


def release_tags(image: Image) -> list[str]:
    return [tag for tag in image.tags if tag.startswith(RELEASE_TAG_PREFIX)]
