"""The task definition: family, size, the two containers, their wiring and their logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from settings import aws_limits
from stacks.echo_task import IMAGE_USERS, NGINX_MEMORY_PER_WORKER_MIB, container_memory, nginx_workers
from stacks.log_retention import RETENTION_BY_DAYS as _RETENTION_BY_DAYS


def test_task_is_the_books_echo_task_on_fargate(dev):
    task = dev.task_definition
    assert task["Family"] == "echo-task"
    assert task["NetworkMode"] == "awsvpc"
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert (task["Cpu"], task["Memory"]) == ("256", "512")


def test_echo_container_serves_8080_from_the_seed_image(dev):
    echo = dev.containers["echo"]
    assert echo["Image"] == "stormcat24/echo:latest"
    assert echo["Essential"] is True
    assert [p["ContainerPort"] for p in echo["PortMappings"]] == [8080]


def test_nginx_container_forwards_to_echo_over_localhost(dev):
    nginx = dev.containers["nginx"]
    assert nginx["Image"] == "stormcat24/nginx-proxy:latest"
    assert nginx["Essential"] is True
    assert [p["ContainerPort"] for p in nginx["PortMappings"]] == [80]
    assert nginx["Environment"] == [{"Name": "BACKEND_HOST", "Value": "localhost:8080"},
                                    {"Name": "WORKER_PROCESSES", "Value": "1"},
                                    {"Name": "WORKER_CONNECTIONS", "Value": "8192"}]
    assert nginx["DependsOn"] == [{"ContainerName": "echo", "Condition": "START"}]


@pytest.mark.parametrize("synth", ["dev", "built_images"])
def test_both_containers_may_open_enough_files_for_thousands_of_connections(synth, request):
    # Set explicitly, soft = hard, whatever Fargate's default is. nginx needs one descriptor per
    # connection it counts in WORKER_CONNECTIONS; echo one per upstream connection nginx opens.
    containers = request.getfixturevalue(synth).containers
    for name in ("echo", "nginx"):
        assert containers[name]["Ulimits"] == [{"Name": "nofile", "SoftLimit": 65535, "HardLimit": 65535}], name
    connections = int({e["Name"]: e["Value"] for e in containers["nginx"]["Environment"]}["WORKER_CONNECTIONS"])
    assert 2 * connections <= 65535  # nginx-proxy's default worker_rlimit_nofile fits under the hard limit


def test_each_container_logs_to_its_own_group(dev):
    template = dev.template()
    groups = {key: g for key, g in template.find_resources("AWS::Logs::LogGroup").items() if key.startswith("Task")}
    assert len(groups) == 2
    for name, container in dev.containers.items():
        options = container["LogConfiguration"]["Options"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert options["awslogs-stream-prefix"] == name
        (group_id,) = [key for key in groups if key.startswith(f"Task{name.capitalize()}Logs")]
        assert options["awslogs-group"] == {"Ref": group_id}


@pytest.mark.parametrize(("env", "days", "policy"), [("dev", 30, "Delete"), ("prod", 365, "Retain")])
def test_log_groups_have_retention_and_a_deliberate_removal_policy(synthesized, env, days, policy):
    groups = synthesized[env].template().find_resources("AWS::Logs::LogGroup")
    for group in [g for key, g in groups.items() if key.startswith("Task")]:
        assert group["Properties"]["RetentionInDays"] == days
        assert group["DeletionPolicy"] == policy


def test_settings_reach_the_task(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, cpu="1024", memory="3072", echo_image="example.com/team/echo:1.2.3",
                       nginx_image="public.ecr.aws/nginx/nginx:1.27", backend_host="127.0.0.1:9000")
    task = synth.task_definition
    assert (task["Cpu"], task["Memory"]) == ("1024", "3072")
    containers = synth.containers
    assert containers["echo"]["Image"] == "example.com/team/echo:1.2.3"
    assert containers["nginx"]["Image"] == "public.ecr.aws/nginx/nginx:1.27"
    assert containers["nginx"]["Environment"] == [{"Name": "BACKEND_HOST", "Value": "127.0.0.1:9000"},
                                                  {"Name": "WORKER_PROCESSES", "Value": "1"},
                                                  {"Name": "WORKER_CONNECTIONS", "Value": "8192"}]
    bigger = synthesize("dev", tmp_path / "bigger", cpu="2048", memory="4096")
    assert bigger.containers["nginx"]["Environment"][1] == {"Name": "WORKER_PROCESSES", "Value": "2"}


def test_execution_role_may_only_write_the_task_logs(dev):
    template = dev.template()
    statements = dev.policy_of("TaskTaskDefinitionExecutionRole")["PolicyDocument"]["Statement"]
    assert {action for s in statements for action in _list(s["Action"])} == {
        "logs:CreateLogStream", "logs:PutLogEvents"
    }
    for statement in statements:
        assert statement["Resource"] != "*"
    template.has_resource_properties("AWS::IAM::Role", Match.object_like({
        "AssumeRolePolicyDocument": Match.object_like({
            "Statement": [Match.object_like({"Principal": {"Service": "ecs-tasks.amazonaws.com"}})]
        })
    }))


def test_every_allowed_retention_has_a_cdk_value():
    assert sorted(_RETENTION_BY_DAYS) == sorted(aws_limits.LOG_RETENTION_DAYS)


def _list(value):
    return value if isinstance(value, list) else [value]


# A non-root user, a hard memory limit and a read-only root on each container of this repository's images.

SERVICES = Path(__file__).resolve().parents[2] / "services"
DOCKERFILES = {"echo": SERVICES / "echo" / "Dockerfile", "nginx": SERVICES / "nginx-proxy" / "Dockerfile"}
# Peak RSS per container measured by `make bench` (2,000 keep-alive clients); each limit leaves at least 3x.
MEASURED_PEAK_MIB = {"echo": 41, "nginx": 37}


@pytest.mark.parametrize("container", sorted(IMAGE_USERS))
def test_the_task_runs_each_image_as_the_user_its_dockerfile_names(container):
    (user,) = re.findall(r"^USER\s+(\S+)\s*$", DOCKERFILES[container].read_text(), re.MULTILINE)
    assert IMAGE_USERS[container] == user
    assert not user.startswith("0")  # not root, by number or name


@pytest.mark.parametrize("synth", ["built_images", "ecr_images", "hardened"])
def test_own_images_run_non_root_on_a_read_only_root(synth, request):
    for name, container in request.getfixturevalue(synth).containers.items():
        assert container["User"] == IMAGE_USERS[name]
        assert container["ReadonlyRootFilesystem"] is True


@pytest.mark.parametrize("synth", ["dev", "prod", "built_images", "hardened"])
def test_container_memory_limits_add_up_to_the_task(synth, request):
    synthesized = request.getfixturevalue(synth)
    limits = {name: container["Memory"] for name, container in synthesized.containers.items()}
    assert sum(limits.values()) == int(synthesized.task_definition["Memory"])


@pytest.mark.parametrize("enable_exec", [False, True])
@pytest.mark.parametrize(("cpu", "memory"), [(cpu, memory) for cpu, sizes in aws_limits.FARGATE_MEMORY_BY_CPU.items()
                                             for memory in (sizes[0], sizes[-1])])
def test_every_fargate_size_leaves_each_container_room(cpu, memory, enable_exec):
    limits = container_memory(cpu=cpu, memory=memory, enable_exec=enable_exec)
    assert sum(limits.values()) == memory
    for name, limit in limits.items():
        assert limit >= 3 * MEASURED_PEAK_MIB[name], (name, limit)
    assert limits["nginx"] >= NGINX_MEMORY_PER_WORKER_MIB * nginx_workers(cpu)
