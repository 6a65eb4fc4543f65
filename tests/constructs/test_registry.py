"""The in-house registry: two ECR repositories, scanned, immutable, encrypted, pruned, retained."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DOCKER_HUB_SECRET
from tests.synth import ENVIRONMENTS, synthesize

REGISTRY = "echo-fargate-registry"


def _repositories(synth) -> dict[str, dict]:
    found = synth.template(REGISTRY).find_resources("AWS::ECR::Repository")
    return {r["Properties"]["RepositoryName"]: r for r in found.values()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_has_the_registry_stack(synthesized, env):
    assert set(_repositories(synthesized[env])) == {"echo-fargate/echo", "echo-fargate/nginx-proxy"}


def test_repositories_scan_on_push_keep_tags_immutable_and_encrypt(dev):
    for repository in _repositories(dev).values():
        props = repository["Properties"]
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["ImageTagMutability"] == "IMMUTABLE"
        # AES-256 is ECR's at-rest default, so CDK leaves the property out; a KMS key would show here.
        assert props.get("EncryptionConfiguration", {"EncryptionType": "AES256"}) == {"EncryptionType": "AES256"}
        assert (repository["DeletionPolicy"], repository["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_lifecycle_expires_untagged_after_a_day_and_keeps_the_newest_tagged(dev, tmp_path):
    for repository in _repositories(dev).values():
        rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert [r["selection"] for r in rules] == [
            {"tagStatus": "tagged", "tagPrefixList": ["release-"], "countType": "imageCountMoreThan",
             "countNumber": 10},
            {"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 1, "countUnit": "days"},
            {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": 30},
        ]
        assert [r["rulePriority"] for r in rules] == [1, 2, 3]
        assert all(r["action"] == {"type": "expire"} for r in rules)
    kept = synthesize("dev", tmp_path, ecr_keep_tagged_images="5", ecr_keep_releases="3")
    for repository in _repositories(kept).values():
        rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert (rules[0]["selection"]["countNumber"], rules[2]["selection"]["countNumber"]) == (3, 5)


def test_released_images_outlive_any_number_of_newer_builds(dev):
    """ECR's documented evaluation: rules by priority; an image that matches a rule's tag selection is never
    expired by a rule of lower priority; within a rule, the oldest go first. Applied to 50 builds of which the
    first two were released (the previous and the running release), both releases stay."""
    (repository, *_) = _repositories(dev).values()
    rules = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    images = [{"pushed": n, "tags": [f"sha{n}"] + ([f"release-sha{n}"] if n < 2 else [])} for n in range(50)]
    assert {image["pushed"] for image in images if image in _kept(images, rules)} >= {0, 1}
    # And the same policy without the release rule would have expired them.
    assert not {0, 1} & {image["pushed"] for image in _kept(images, rules[1:])}


def _kept(images: list[dict], rules: list[dict]) -> list[dict]:
    claimed, expired = set(), set()
    for rule in sorted(rules, key=lambda r: r["rulePriority"]):
        selection = rule["selection"]

        def matches(image, selection=selection):
            if selection["tagStatus"] == "untagged":
                return not image["tags"]
            if "tagPrefixList" in selection:
                return any(tag.startswith(p) for tag in image["tags"] for p in selection["tagPrefixList"])
            return bool(image["tags"])  # tagPatternList ["*"]

        selected = sorted((i for i in images if matches(i)), key=lambda i: i["pushed"], reverse=True)
        # age-based rules: none of these images is old
        doomed = selected[selection["countNumber"]:] if selection["countType"] == "imageCountMoreThan" else []
        expired |= {i["pushed"] for i in doomed if i["pushed"] not in claimed}
        claimed |= {i["pushed"] for i in selected}
    return [image for image in images if image["pushed"] not in expired]


def test_outputs_are_the_repository_uris(dev):
    outputs = dev.template(REGISTRY).find_outputs("*")
    assert set(outputs) == {"EchoRepositoryUri", "NginxRepositoryUri"}


def test_no_pull_through_cache_without_docker_hub_credentials(dev):
    dev.template(REGISTRY).resource_count_is("AWS::ECR::PullThroughCacheRule", 0)


def test_pull_through_cache_for_docker_hub_with_the_secret(with_ci):
    template = with_ci.template(REGISTRY)
    template.has_resource_properties("AWS::ECR::PullThroughCacheRule", {
        "EcrRepositoryPrefix": "docker-hub",
        "UpstreamRegistry": "docker-hub",
        "UpstreamRegistryUrl": "registry-1.docker.io",
        "CredentialArn": DOCKER_HUB_SECRET,
    })
    assert "DockerHubCachePrefix" in template.find_outputs("*")


ECR_KEY = "arn:aws:kms:us-east-1:111111111111:key/12345678-1234-1234-1234-123456789012"


@pytest.mark.parametrize(("setting", "expected"), [
    ("kms", {"EncryptionType": "KMS"}),  # the AWS managed key aws/ecr
    (ECR_KEY, {"EncryptionType": "KMS", "KmsKey": ECR_KEY}),
])
def test_repositories_encrypt_with_kms_where_asked(tmp_path, setting, expected):
    encrypted = synthesize("dev", tmp_path, ecr_encryption=setting)
    for repository in _repositories(encrypted).values():
        assert repository["Properties"]["EncryptionConfiguration"] == expected
