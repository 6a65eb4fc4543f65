"""image_source: the seed's public images, this repository's images built by CDK, or the same from ECR."""

from __future__ import annotations

import json

import pytest

from stacks.echo_task import ECHO_HEALTH_COMMAND, NGINX_HEALTH_COMMAND


def test_public_images_get_no_health_commands_and_a_root_health_path(dev):
    containers = dev.containers
    assert all("HealthCheck" not in c and not c.get("ReadonlyRootFilesystem") for c in containers.values())
    (group,) = dev.template().find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/"


def test_built_images_come_from_the_services_directories(built_images):
    assets = json.loads((built_images.outdir / "echo-fargate-dev.assets.json").read_text())["dockerImages"]
    sources = sorted(a["source"]["directory"] for a in assets.values())
    assert len(sources) == 2
    staged = {(built_images.outdir / s / "Dockerfile").read_text().splitlines()[0] for s in sources}
    assert any(line.startswith("# echo") for line in staged)
    assert any(line.startswith("# nginx-proxy") for line in staged)
    assert all(platform == "linux/amd64" for a in assets.values()
               for platform in [a["source"].get("platform")])


@pytest.mark.parametrize("variant", ["built_images", "ecr_images"])
def test_own_images_get_health_checks_read_only_roots_and_a_healthy_dependency(request, variant):
    synth = request.getfixturevalue(variant)
    containers = synth.containers
    assert containers["echo"]["HealthCheck"]["Command"] == ECHO_HEALTH_COMMAND
    assert containers["nginx"]["HealthCheck"]["Command"] == NGINX_HEALTH_COMMAND
    assert all(c["ReadonlyRootFilesystem"] is True for c in containers.values())
    assert containers["nginx"]["DependsOn"] == [{"ContainerName": "echo", "Condition": "HEALTHY"}]
    assert containers["nginx"]["MountPoints"] == [
        {"ContainerPath": "/tmp/nginx-proxy", "ReadOnly": False, "SourceVolume": "nginx-runtime"}
    ]
    assert synth.task_definition["Volumes"] == [{"Name": "nginx-runtime"}]
    assert containers["echo"]["StopTimeout"] == 30
    (group,) = synth.template().find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/healthz"


def test_ecr_images_are_the_two_repositories_at_the_tag(ecr_images):
    for name, repository in (("echo", "echo-fargate/echo"), ("nginx", "echo-fargate/nginx-proxy")):
        image = json.dumps(ecr_images.containers[name]["Image"])
        assert f"/{repository}:0a1b2c3d" in image
    statements = ecr_images.policy_of("TaskTaskDefinitionExecutionRole")["PolicyDocument"]["Statement"]
    pulls = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
    (pull,) = pulls
    assert sorted(json.dumps(r).split(":repository/")[1][:-4] for r in pull["Resource"]) == [
        "echo-fargate/echo", "echo-fargate/nginx-proxy"]


@pytest.mark.parametrize("variant", ["built_images", "ecr_images"])
def test_own_image_variants_pass_cdk_nag(request, variant):
    report = request.getfixturevalue(variant).validation_report["pluginReports"][0]
    assert report["violations"] == []
    assert "AwsSolutions-IAM5[Resource::*]" in {v["ruleName"] for v in report["suppressedViolations"]}


def test_an_explicit_health_check_path_wins(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, image_source="build", health_check_path="/ready")
    (group,) = synth.template().find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/ready"
