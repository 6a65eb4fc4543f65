"""make exec: a RUNNING task from moto's ECS, the refusals (exec off, no task, no plugin) and the exact
arguments fake `aws` and `session-manager-plugin` executables on PATH receive."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.moto_api import state_manager

from operate import exec_shell
from operate.exec_shell import INSTALL_PLUGIN, open_shell

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK, CLUSTER, SERVICE = "echo-fargate-dev", "echo-cluster", "echo-service"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_PROFILE", raising=False)
    # moto moves a task on from RUNNING at each read; a service's task stays RUNNING until stopped.
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 1000})
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("cloudformation", "ecs")}
        clients["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps({
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ClusterName": {"Value": CLUSTER}, "ServiceName": {"Value": SERVICE}},
        }))
        yield clients
    state_manager.unset_transition("ecs::task")


def deploy(clients, *, exec_on=True, tasks=1):
    ecs = clients["ecs"]
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(
        family="echo-task", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "echo", "image": "echo:1", "memory": 256},
                              {"name": "nginx", "image": "nginx:1", "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=arn, desiredCount=tasks,
                       enableExecuteCommand=exec_on)
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # As CDK's VPC does; moto's RunTask needs it for the tasks' network interfaces.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    for _ in range(tasks):  # moto starts no tasks for a service: run them as the service would
        ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", group=f"service:{SERVICE}",
                     networkConfiguration=network, enableExecuteCommand=exec_on)
    # A stopped task of the service is never picked.
    (stopped,) = ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", group=f"service:{SERVICE}",
                              networkConfiguration=network)["tasks"]
    ecs.stop_task(cluster=CLUSTER, task=stopped["taskArn"], reason="replaced")
    # Another service's task in the same cluster is never picked (moto's ListTasks ignores serviceName).
    ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", group="service:other",
                 networkConfiguration=network)
    clients["ecs"] = ExecSetting(ecs, exec_on)


class ExecSetting:
    """The ECS client, but DescribeServices reports enableExecuteCommand, which moto 5.2.5 drops."""

    def __init__(self, client, enabled):
        self.client, self.enabled = client, enabled

    def __getattr__(self, name):
        return getattr(self.client, name)

    def describe_services(self, **kwargs):
        answer = self.client.describe_services(**kwargs)
        for service in answer["services"]:
            service["enableExecuteCommand"] = self.enabled
        return answer


def fake(bin_dir, name, record):
    """An executable that writes the arguments it received to `record`, as JSON, and exits 0."""
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))  # nothing else: no real aws, no real plugin
    return directory


def test_without_the_plugin_says_how_to_install_it_and_exits_2(aws, bin_dir, capsys):
    deploy(aws)
    fake(bin_dir, "aws", bin_dir / "aws.json")
    assert open_shell(clients=aws, stack=STACK, container="nginx") == 2
    err = capsys.readouterr().err
    assert err == INSTALL_PLUGIN + "\n"
    assert "session-manager-plugin is not on PATH" in err and "apt install ./session-manager-plugin.deb" in err
    assert not (bin_dir / "aws.json").exists()


def test_exec_off_names_the_setting(aws, bin_dir, capsys):
    deploy(aws, exec_on=False)
    fake(bin_dir, "session-manager-plugin", bin_dir / "plugin.json")
    assert open_shell(clients=aws, stack=STACK, container="nginx") == 1
    assert capsys.readouterr().err == (f"exec: service {SERVICE} has ECS Exec off: deploy with -c enable_exec=true "
                                       "(the setting enable_exec), and the tasks it then starts accept sessions\n")
    assert not (bin_dir / "plugin.json").exists()


def test_no_running_task_is_one_line(aws, bin_dir, capsys):
    deploy(aws, tasks=0)
    fake(bin_dir, "session-manager-plugin", bin_dir / "plugin.json")
    assert open_shell(clients=aws, stack=STACK, container="echo") == 1
    assert capsys.readouterr().err == f"exec: no RUNNING task of service {SERVICE} in cluster {CLUSTER} " \
                                      "(make status)\n"


def test_with_the_aws_cli_runs_execute_command(aws, bin_dir):
    deploy(aws)
    fake(bin_dir, "session-manager-plugin", bin_dir / "plugin.json")
    fake(bin_dir, "aws", bin_dir / "aws.json")
    assert open_shell(clients=aws, stack=STACK, container="echo") == 0
    (task_arn,) = [task["taskArn"] for task in aws["ecs"].describe_tasks(
        cluster=CLUSTER, tasks=aws["ecs"].list_tasks(cluster=CLUSTER)["taskArns"])["tasks"]
        if task["group"] == f"service:{SERVICE}" and task["lastStatus"] == "RUNNING"]
    assert json.loads((bin_dir / "aws.json").read_text()) == [
        "ecs", "execute-command", "--cluster", CLUSTER, "--task", task_arn.rsplit("/", 1)[-1],
        "--container", "echo", "--interactive", "--command", "/bin/sh", "--region", REGION]


TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/5f0c9e2b1a3d4c6e8f7a9b0c1d2e3f40"
SESSION = {"sessionId": "ecs-execute-command-0a1b2c3d4e5f", "streamUrl": "wss://ssmmessages.us-east-1.amazonaws"
           ".com/v1/data-channel/ecs-execute-command-0a1b2c3d4e5f", "tokenValue": "AAEAAbcd"}


def stubbed_ecs(refusal=None):
    """ECS as AWS answers (moto has no ExecuteCommand): the service, its running task, the session."""
    ecs = boto3.client("ecs", region_name=REGION)
    stub = Stubber(ecs)
    stub.add_response("describe_services", {"services": [{
        "serviceName": SERVICE, "status": "ACTIVE", "enableExecuteCommand": True}]},
        {"cluster": CLUSTER, "services": [SERVICE]})
    stub.add_response("list_tasks", {"taskArns": [TASK_ARN]},
                      {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": "RUNNING"})
    stub.add_response("describe_tasks", {"tasks": [{
        "taskArn": TASK_ARN, "lastStatus": "RUNNING", "group": f"service:{SERVICE}",
        "startedAt": datetime(2026, 12, 1, 12, tzinfo=UTC),
        "containers": [{"name": "echo", "runtimeId": "5f0c9e2b1a3d4c6e8f7a9b0c1d2e3f40-1111111111"},
                       {"name": "nginx", "runtimeId": "5f0c9e2b1a3d4c6e8f7a9b0c1d2e3f40-2222222222"}]}]},
        {"cluster": CLUSTER, "tasks": [TASK_ARN]})
    call = {"cluster": CLUSTER, "task": TASK_ARN, "container": "nginx", "interactive": True, "command": "/bin/sh"}
    if refusal:  # what AWS answers when the task started before exec was switched on
        stub.add_client_error("execute_command", service_error_code="InvalidParameterException",
                              service_message=refusal, expected_params=call)
        stub.activate()
        return ecs, stub
    stub.add_response("execute_command", {
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}", "containerName": "nginx",
        "containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/5f0c/abcd", "interactive": True,
        "session": SESSION, "taskArn": TASK_ARN}, call)
    stub.activate()
    return ecs, stub


@pytest.mark.parametrize("profile", [None, "ops"])
def test_without_the_aws_cli_hands_the_session_to_the_plugin_as_the_cli_does(aws, bin_dir, monkeypatch, profile):
    ecs, stub = stubbed_ecs()
    if profile:  # after the client exists: boto3 would look the profile up in a config file there is none of
        monkeypatch.setenv("AWS_PROFILE", profile)
    fake(bin_dir, "session-manager-plugin", bin_dir / "plugin.json")
    assert open_shell(clients={"cloudformation": aws["cloudformation"], "ecs": ecs}, stack=STACK,
                      container="nginx") == 0
    stub.assert_no_pending_responses()
    assert json.loads((bin_dir / "plugin.json").read_text()) == [
        json.dumps(SESSION), REGION, "StartSession", profile or "",
        json.dumps({"Target": f"ecs:{CLUSTER}_5f0c9e2b1a3d4c6e8f7a9b0c1d2e3f40_"
                              "5f0c9e2b1a3d4c6e8f7a9b0c1d2e3f40-2222222222"}),
        f"https://ecs.{REGION}.amazonaws.com"]


def test_an_execute_command_refusal_is_one_line(aws, bin_dir, monkeypatch, capsys):
    ecs, _ = stubbed_ecs(refusal="The execute command failed because execute command was not enabled when the "
                                 "task was run or the execute command agent isn't running.")
    fake(bin_dir, "session-manager-plugin", bin_dir / "plugin.json")
    monkeypatch.setattr(exec_shell, "aws_clients", lambda *args: {"cloudformation": aws["cloudformation"], "ecs": ecs})
    assert exec_shell.main(["--env", "dev", "--container", "nginx"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "exec: ExecuteCommand: InvalidParameterException: The execute command failed because execute command was "
        "not enabled when the task was run or the execute command agent isn't running.")
    assert not (bin_dir / "plugin.json").exists()
