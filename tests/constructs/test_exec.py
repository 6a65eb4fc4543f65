"""ECS Exec with this repository's read-only images: the exec agent's three paths are writable task storage
in both containers, and the roots stay read-only. Synthesized from the EchoTask construct itself."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from settings.loader import load_settings
from stacks.echo_task import EXEC_AGENT_PATHS, NGINX_RUNTIME_DIR, EchoTask
from stacks.log_groups import StackLogs
from tests.synth import CDK_CONTEXT

AGENT_PATHS = ["/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm"]


def task_definition(*, enable_exec: bool, image_source: str = "ecr") -> dict:
    stack = cdk.Stack(cdk.App(), "ExecTest", env=cdk.Environment(account="111111111111", region="us-east-1"))
    EchoTask(stack, "Task", cpu=256, memory=512, image_source=image_source, echo_image="stormcat24/echo:latest",
             nginx_image="stormcat24/nginx-proxy:latest", image_tag="0a1b2c3d" if image_source == "ecr" else None,
             backend_host="localhost:8080", stack_logs=StackLogs(stack, "Logs", retention_days=7, retain=False,
                                                                 kms_key=None), enable_exec=enable_exec)
    (resource,) = Template.from_stack(stack).find_resources("AWS::ECS::TaskDefinition").values()
    return resource["Properties"]


def containers(properties: dict) -> dict[str, dict]:
    return {c["Name"]: c for c in properties["ContainerDefinitions"]}


def test_the_paths_are_those_of_the_workaround():
    assert list(EXEC_AGENT_PATHS) == AGENT_PATHS


@pytest.mark.parametrize("image_source", ["ecr", "build"])
def test_with_exec_each_container_has_the_agent_paths_writable_and_a_read_only_root(image_source):
    properties = task_definition(enable_exec=True, image_source=image_source)
    volumes = {volume["Name"]: volume for volume in properties["Volumes"]}
    used = []
    for name, container in containers(properties).items():
        assert container["ReadonlyRootFilesystem"] is True, name
        mounts = {m["ContainerPath"]: m for m in container["MountPoints"] if m["ContainerPath"] in AGENT_PATHS}
        assert sorted(mounts) == sorted(AGENT_PATHS), name
        for path, mount in mounts.items():
            assert mount["ReadOnly"] is False, (name, path)
            # Task storage: a volume with no host or EFS configuration is Fargate's ephemeral storage.
            assert volumes[mount["SourceVolume"]] == {"Name": mount["SourceVolume"]}, (name, path)
            used.append(mount["SourceVolume"])
    assert len(used) == len(set(used)) == 6  # no agent shares its state with the other container's


def test_without_exec_only_nginx_has_its_runtime_directory():
    properties = task_definition(enable_exec=False)
    assert [volume["Name"] for volume in properties["Volumes"]] == ["nginx-runtime"]
    found = containers(properties)
    assert "MountPoints" not in found["echo"]
    assert [m["ContainerPath"] for m in found["nginx"]["MountPoints"]] == [NGINX_RUNTIME_DIR]


def test_the_public_images_have_a_writable_root_and_need_no_agent_volumes():
    properties = task_definition(enable_exec=True, image_source="public")
    assert "Volumes" not in properties or properties["Volumes"] == []
    for name, container in containers(properties).items():
        assert container.get("ReadonlyRootFilesystem") is not True, name
        assert "MountPoints" not in container, name


@pytest.mark.parametrize("image_source", ["ecr", "build"])
def test_the_settings_accept_exec_with_this_repositorys_images(image_source):
    context = {**CDK_CONTEXT, "env": "dev", "image_source": image_source, "enable_exec": "true",
               **({"image_tag": "0a1b2c3d"} if image_source == "ecr" else {})}
    settings = load_settings(context)
    assert (settings.enable_exec, settings.own_images) == (True, True)


def test_the_app_wires_enable_exec_into_the_task(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, image_source="build", enable_exec="true")
    for name, container in synth.containers.items():
        mounted = {point["ContainerPath"] for point in container.get("MountPoints", [])}
        assert set(AGENT_PATHS) <= mounted, name
        assert container["ReadonlyRootFilesystem"] is True, name
    assert synth.service["EnableExecuteCommand"] is True
