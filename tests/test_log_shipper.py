"""local.log_shipper: what the awslogs driver would send (streams, batches, order), against moto in this
process, and that a local AWS that is gone costs the task nothing but one warning line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest
from moto import mock_aws

from local import log_shipper
from local.log_shipper import CLIENT_CONFIG, Destination, LogShipping, StreamShipper, Warner, pump

STACK = "echo-fargate-dev"
TEMPLATE = {
    "Resources": {
        "TaskEchoLogs91B801B5": {"Type": "AWS::Logs::LogGroup"},
        "TaskNginxLogs2E9D7306": {"Type": "AWS::Logs::LogGroup"},
        "TaskDef": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [
            {"Name": "echo", "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                "awslogs-group": {"Ref": "TaskEchoLogs91B801B5"}, "awslogs-stream-prefix": "echo",
                "awslogs-region": "us-east-1"}}},
            {"Name": "nginx", "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                "awslogs-group": {"Ref": "TaskNginxLogs2E9D7306"}, "awslogs-stream-prefix": "nginx",
                "awslogs-region": "us-east-1"}}},
        ]}},
    },
}


@pytest.fixture
def credentials(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def deployed(credentials, tmp_path):
    """The template on disk (as cdk.out has it) and its log groups deployed under generated names."""
    path = tmp_path / f"{STACK}.template.json"
    path.write_text(json.dumps(TEMPLATE))
    groups_only = {"Resources": {k: v for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"}}
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(groups_only))
        yield path


def stream_messages(logs, group: str, stream: str) -> list[tuple[int, str]]:
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    return [(e["timestamp"], e["message"]) for e in events]


def test_lines_go_to_the_task_definitions_groups_under_prefix_container_task_id(deployed):
    shipping = LogShipping.for_stack(deployed, STACK, flush_interval=0.05)
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in boto3.client(
        "cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]}
    assert shipping.destinations == {"echo": Destination(physical["TaskEchoLogs91B801B5"], "echo"),
                                     "nginx": Destination(physical["TaskNginxLogs2E9D7306"], "nginx")}
    first = shipping.start_task()
    first.shippers["echo"].ship("echo line\n")
    first.shippers["nginx"].ship("nginx line\n")
    first.close()
    second = shipping.start_task()  # a replacement task: a new id, so new streams
    second.shippers["echo"].ship("after the restart\n")
    second.close()

    assert len(first.task_id) == 32 and int(first.task_id, 16) >= 0 and second.task_id != first.task_id
    logs = boto3.client("logs")
    echo_group = physical["TaskEchoLogs91B801B5"]
    streams = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=echo_group)["logStreams"]}
    assert streams == {f"echo/echo/{first.task_id}", f"echo/echo/{second.task_id}"}
    assert [m for _, m in stream_messages(logs, echo_group, f"echo/echo/{first.task_id}")] == ["echo line"]
    assert [m for _, m in stream_messages(logs, physical["TaskNginxLogs2E9D7306"],
                                          f"nginx/nginx/{first.task_id}")] == ["nginx line"]


def test_a_stack_without_the_group_is_one_line(deployed):
    with pytest.raises(log_shipper.ShippingError, match=r"^cannot read the resources of stack echo-fargate-nope: "):
        LogShipping.for_stack(deployed, "echo-fargate-nope")


class Recorder:
    """A logs client that records what it is asked to do."""

    def __init__(self) -> None:
        self.created, self.batches = [], []

    def create_log_stream(self, **request) -> None:
        self.created.append(request)

    def put_log_events(self, **request) -> None:
        self.batches.append([(e["timestamp"], e["message"]) for e in request["logEvents"]])


def test_batches_hold_what_was_queued_in_order_and_respect_the_event_limit(monkeypatch):
    monkeypatch.setattr(log_shipper, "MAX_BATCH_EVENTS", 3)
    client = Recorder()
    shipper = StreamShipper(client, "group", "echo/echo/t1", warn=Warner(), flush_interval=60)
    for i in range(7):
        shipper.ship(f"line {i}\n")
    shipper.ship("\n")  # empty: CloudWatch refuses it, the driver skips it
    shipper.close()
    assert client.created == [{"logGroupName": "group", "logStreamName": "echo/echo/t1"}]  # once
    assert [[m for _, m in batch] for batch in client.batches] == [
        ["line 0", "line 1", "line 2"], ["line 3", "line 4", "line 5"], ["line 6"]]


def test_lines_from_two_threads_keep_time_order_in_the_stream(deployed):
    shipping = LogShipping.for_stack(deployed, STACK, flush_interval=0.01)
    task = shipping.start_task()
    shipper = task.shippers["nginx"]

    def write(name: str) -> None:
        for i in range(300):
            shipper.ship(f"{name} {i}")

    threads = [threading.Thread(target=write, args=(name,)) for name in ("stdout", "stderr")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    task.close()
    events = stream_messages(boto3.client("logs"), shipping.destinations["nginx"].group, shipper.stream)
    assert len(events) == 600
    timestamps = [t for t, _ in events]
    assert timestamps == sorted(timestamps)
    for name in ("stdout", "stderr"):  # each source's own order survives
        assert [m for _, m in events if m.startswith(name)] == [f"{name} {i}" for i in range(300)]


def test_a_long_line_is_split_as_the_driver_does():
    client = Recorder()
    shipper = StreamShipper(client, "group", "s", warn=Warner(), flush_interval=60)
    shipper.ship("x" * (log_shipper.MAX_EVENT_BYTES + 10))
    shipper.close()
    assert [len(m) for _, m in client.batches[0]] == [log_shipper.MAX_EVENT_BYTES, 10]


@pytest.fixture
def dead_endpoint():
    # Bound, never listening: the kernel refuses connections at once, and no other program can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_dead_endpoint_never_blocks_and_warns_once(credentials, dead_endpoint):
    logs = boto3.client("logs", endpoint_url=dead_endpoint, config=CLIENT_CONFIG)
    warnings = []
    shipping = LogShipping(logs, {"echo": Destination("g1", "echo"), "nginx": Destination("g2", "nginx")},
                           warn=Warner(warnings.append), flush_interval=0.01)
    task = shipping.start_task()
    started = time.monotonic()
    for i in range(1000):
        task.shippers["echo"].ship(f"echo {i}")
        task.shippers["nginx"].ship(f"nginx {i}")
    assert time.monotonic() - started < 1  # handing over lines never waits for the endpoint
    time.sleep(0.2)
    task.shippers["echo"].ship("after the first failure")
    task.close()
    assert time.monotonic() - started < 15
    assert len(warnings) == 1
    assert warnings[0].startswith("log shipping: ") and warnings[0].endswith(
        "dropping log lines for CloudWatch Logs (this log keeps them)")
    assert "\n" not in warnings[0]


def test_a_full_queue_drops_lines_with_one_warning():
    client, warnings = Recorder(), []
    shipper = StreamShipper(client, "group", "s", warn=Warner(warnings.append), flush_interval=60, queue_lines=2)
    for i in range(5):
        shipper.ship(f"line {i}")
    shipper.close()
    assert [m for batch in client.batches for _, m in batch] == ["line 0", "line 1"]
    assert len(warnings) == 1 and "more than 2 lines waiting" in warnings[0]


def test_pump_copies_every_line_to_the_log_and_ships_it(tmp_path):
    script = "import sys\nfor i in range(500):\n    print('out', i, flush=True)\n    print('err', i, file=sys.stderr)\n"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shipped = []
    with (tmp_path / "out.log").open("ab") as out, (tmp_path / "err.log").open("ab") as err:
        threads = [pump(process.stdout, out.fileno(), shipped.append), pump(process.stderr, err.fileno(), None)]
        process.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=10)
    assert (tmp_path / "out.log").read_text().splitlines() == [f"out {i}" for i in range(500)]
    assert (tmp_path / "err.log").read_text().splitlines() == [f"err {i}" for i in range(500)]
    assert shipped == [f"out {i}\n" for i in range(500)]
