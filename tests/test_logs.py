"""operate.logs against moto in this process: a stack whose outputs name the two log groups, with lines put
into task streams as the awslogs driver names them."""

from __future__ import annotations

import contextlib
import json
import time

import boto3
import pytest
from moto import mock_aws

from operate import logs as operate_logs

STACK = "echo-fargate-dev"
TASK_A, TASK_B = "a1b2c3d4" + "0" * 24, "e5f6a7b8" + "1" * 24
TEMPLATE = json.dumps({
    "Resources": {"EchoLogs": {"Type": "AWS::Logs::LogGroup"}, "NginxLogs": {"Type": "AWS::Logs::LogGroup"}},
    "Outputs": {"EchoLogGroup": {"Value": {"Ref": "EchoLogs"}}, "NginxLogGroup": {"Value": {"Ref": "NginxLogs"}}},
})
ECHO_REQUEST = ('{"time":"2026-12-01T10:00:00.000Z","level":"info","msg":"request","method":"GET","path":"/hello",'
                '"status":200,"duration_ms":1.234,"request_id":"req-1","client":"127.0.0.1"}')
NGINX_REQUEST = ('{"time":"2026-12-01T10:00:00+00:00","request_id":"req-1","method":"GET","uri":"/hello?x=1",'
                 '"status":200,"request_time":0.004}')


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
        (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        groups = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        yield World(boto3.client("logs"), groups["EchoLogGroup"], groups["NginxLogGroup"])


class World:
    def __init__(self, client, echo_group: str, nginx_group: str) -> None:
        self.client, self.groups = client, {"echo": echo_group, "nginx": nginx_group}
        self.now_ms = int(time.time() * 1000)

    def put(self, container: str, task: str, *events: tuple[int, str]) -> None:
        """Events (milliseconds before now, message) into the container's stream of `task`."""
        group, stream = self.groups[container], f"{container}/{container}/{task}"
        with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):  # a later put, same task
            self.client.create_log_stream(logGroupName=group, logStreamName=stream)
        self.client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": self.now_ms - ago, "message": message} for ago, message in events])


def run(capsys, *args: str, **kwargs) -> tuple[int, list[str], str]:
    code = operate_logs.main(["--stack", STACK, *args], **kwargs)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_both_containers_merged_in_time_order_and_labelled(aws, capsys):
    aws.put("echo", TASK_A, (5000, "echo first"), (3000, "echo third"))
    aws.put("nginx", TASK_B, (4000, "nginx second"), (1000, "nginx fourth"))
    code, out, err = run(capsys)
    assert code == 0, err
    assert [line.split(" | ")[-1] for line in out] == ["echo first", "nginx second", "echo third", "nginx fourth"]
    assert out[0].split(" ", 1)[1] == "echo  | a1b2c3d4 | echo first"
    assert out[1].split(" ", 1)[1] == "nginx | e5f6a7b8 | nginx second"
    assert out[0].split(" ", 1)[0].endswith("Z")  # UTC, to the millisecond


def test_request_lines_are_readable_and_other_lines_stay_as_they_are(aws, capsys):
    aws.put("echo", TASK_A, (3000, ECHO_REQUEST), (2000, '{"msg":"started","port":8080}'))
    aws.put("nginx", TASK_A, (1000, NGINX_REQUEST), (500, "2026/12/01 10:00:00 [error] 7#7: upstream timed out"))
    code, out, _ = run(capsys)
    assert code == 0
    assert [line.split(" | ", 2)[2] for line in out] == [
        "GET /hello 200 1.2 ms request_id=req-1",
        '{"msg":"started","port":8080}',
        "GET /hello?x=1 200 4.0 ms request_id=req-1",
        "2026/12/01 10:00:00 [error] 7#7: upstream timed out",
    ]


def test_container_restricts_to_one_group(aws, capsys):
    aws.put("echo", TASK_A, (2000, "from echo"))
    aws.put("nginx", TASK_A, (1000, "from nginx"))
    code, out, _ = run(capsys, "--container", "nginx")
    assert code == 0
    assert [line.split(" | ")[-1] for line in out] == ["from nginx"]


def test_filter_is_passed_to_filter_log_events(aws, capsys):
    aws.put("echo", TASK_A, (3000, ECHO_REQUEST), (2000, "nothing to see"))
    aws.put("nginx", TASK_A, (1000, NGINX_REQUEST.replace('"status":200', '"status":502')))
    code, out, _ = run(capsys, "--filter", "req-1")  # moto matches simple terms
    assert code == 0
    assert [line.split(" | ", 2)[2] for line in out] == ["GET /hello 200 1.2 ms request_id=req-1",
                                                         "GET /hello?x=1 502 4.0 ms request_id=req-1"]
    code, out, _ = run(capsys, "--filter", "nothing")
    assert [line.split(" | ")[-1] for line in out] == ["nothing to see"]


def test_since_leaves_out_older_lines(aws, capsys):
    aws.put("echo", TASK_A, (20 * 60_000, "twenty minutes ago"), (5 * 60_000, "five minutes ago"))
    _, out, _ = run(capsys, "--since", "15m")
    assert [line.split(" | ")[-1] for line in out] == ["five minutes ago"]
    _, out, _ = run(capsys, "--since", "1h")
    assert [line.split(" | ")[-1] for line in out] == ["twenty minutes ago", "five minutes ago"]


def test_nothing_in_the_window_says_so_and_exits_0(aws, capsys):
    code, out, err = run(capsys, "--since", "30s")
    assert (code, out) == (0, [])
    assert err.strip().endswith("no log lines in the last 30s in " + ", ".join(aws.groups.values()))


def test_pages_with_next_token(aws):
    aws.put("echo", TASK_A, *[(5000 - i, f"line {i}") for i in range(25)])
    real = aws.client.filter_log_events
    pages = []

    def small_pages(**request):  # moto pages only past 10,000 events: ask for pages of 10
        answer = real(**request, limit=10)
        pages.append(len(answer["events"]))
        return answer

    reader = operate_logs.LogReader(type("Logs", (), {"filter_log_events": staticmethod(small_pages)})(),
                                    {"echo": aws.groups["echo"]})
    lines = reader.since(aws.now_ms - 60_000)
    assert pages == [10, 10, 5]
    assert [line.message for line in lines] == [f"line {i}" for i in range(25)]


def test_follow_prints_each_new_line_once_with_no_gaps(aws, capsys):
    aws.put("echo", TASK_A, (3000, "before 1"), (2000, "before 2"))
    polls = []

    def sleep(seconds: float) -> None:
        assert seconds == operate_logs.POLL_INTERVAL
        polls.append(seconds)
        if len(polls) == 1:
            # The same millisecond as the newest line already printed, then newer ones.
            aws.put("echo", TASK_A, (2000, "same ms as before 2"), (1000, "after 1"))
        elif len(polls) == 2:
            # Another task's stream of the same group, stored after "after 1" although older.
            aws.put("echo", TASK_B, (1500, "task B, stored late but older than after 1"))
        elif len(polls) == 3:
            pass  # a poll with nothing new prints nothing
        elif len(polls) == 4:
            aws.put("echo", TASK_A, (1000, "after 2, same ms as after 1"), (0, "after 3"))
        else:
            raise KeyboardInterrupt  # Ctrl-C

    code, out, err = run(capsys, "--follow", sleep=sleep)
    assert code == 0, err
    assert len(polls) == 5
    assert [line.split(" | ")[-1] for line in out] == [
        "before 1", "before 2", "same ms as before 2", "after 1", "task B, stored late but older than after 1",
        "after 2, same ms as after 1", "after 3"]


@pytest.mark.parametrize(("value", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400)])
def test_since_values(value, seconds):
    assert operate_logs.parse_since(value) == seconds


@pytest.mark.parametrize("value", ["10", "5x", "-5m", "0m", "1.5h", "m", ""])
def test_bad_since_is_one_line_and_exit_2(value, capsys):
    code, out, err = run(capsys, f"--since={value}")  # '=': argparse would take -5m for an option
    assert (code, out) == (2, [])
    assert err.count("\n") == 1 and err.startswith(f"operate.logs: --since {value!r}: expected")


def test_missing_stack_exits_1(aws, capsys):
    code = operate_logs.main(["--stack", "echo-fargate-nope"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "operate.logs: stack echo-fargate-nope not found in us-east-1\n"


def test_deleted_log_group_is_one_line_and_exit_1(aws, capsys):
    aws.client.delete_log_group(logGroupName=aws.groups["nginx"])
    code, _, err = run(capsys)
    assert code == 1
    assert err.count("\n") == 1 and "ResourceNotFoundException" in err
