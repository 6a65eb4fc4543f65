"""operate/events.py (make events) against moto's in-process AWS, with test_verify's world.

moto writes the stack-level events of each operation (CREATE_IN_PROGRESS `User Initiated`, ...COMPLETE), so
the create and an update are two real operations. What moto cannot do is fail one: it has no resource
events, rollbacks or ECS service events, and keeps no stop details of tasks. So the failed update's resource
events are written into DescribeStackEvents after moto's own `User Initiated` event, DescribeServices gets
a FAILED deployment and its events, and DescribeTasks the stop codes (tests.test_status.start_tasks).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from operate import events
from tests import test_status, test_verify
from tests.test_status import start_tasks
from tests.test_verify import SESSION, STACK, Rewrite, build_world

fake_credentials = test_verify.fake_credentials  # a fixture: no real credentials can be used
NOW = test_status.NOW


@pytest.fixture(autouse=True)
def _now():
    """One now for this test and test_status's start_tasks, which reads test_status.NOW: a copy imported once
    went stale whenever test_status's own tests had moved it first (another order, another xdist worker)."""
    global NOW
    NOW = test_status.NOW = datetime.now(UTC)

SERVICE_REASON = ("Resource handler returned message: \"Error occurred during operation 'ECS Deployment "
                  "Circuit Breaker was triggered'.\" (RequestToken: 1f2e, HandlerErrorCode: GeneralServiceException)")


@pytest.fixture
def aws(monkeypatch, fake_credentials):
    with mock_aws():
        clients = {name: SESSION.client(name) for name in ("cloudformation", "ecs")}
        monkeypatch.setattr(events, "aws_clients", lambda region, endpoint_url, services: clients)
        yield clients


def rewrite(clients: dict, service: str, operation: str, change) -> Rewrite:
    wrapper = Rewrite(operation, change)
    wrapper.client, clients[service] = clients[service], wrapper
    return wrapper


def run(capsys) -> tuple[int, list[str], str]:
    code = events.main(["--env", "dev"])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def section(lines: list[str], title: str) -> list[str]:
    start = next(i for i, text in enumerate(lines) if text.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start + 1:end]


def failed_update(clients: dict) -> None:
    """A second operation (an update) that moto records, then the failure it cannot model written into it."""
    cloudformation = clients["cloudformation"]
    body = cloudformation.get_template(StackName=STACK)["TemplateBody"]
    cloudformation.update_stack(StackName=STACK, TemplateBody=json.dumps(body))

    def failing(answer, _call):
        moto_events = answer["StackEvents"]
        # Newest first: [UPDATE_COMPLETE, UPDATE_IN_PROGRESS User Initiated, CREATE_COMPLETE, CREATE_... User
        # Initiated]; the update's resources' events go between its start and its end, which becomes a rollback.
        update_started = next(i for i, event in enumerate(moto_events)
                              if event["ResourceStatus"] == "UPDATE_IN_PROGRESS")
        base, stack_event = moto_events[update_started]["Timestamp"], moto_events[update_started]

        def event(seconds, status, logical="EchoService", kind="AWS::ECS::Service", reason=None):
            made = dict(stack_event, LogicalResourceId=logical, ResourceType=kind, ResourceStatus=status,
                        Timestamp=base + timedelta(seconds=seconds))
            made.pop("ResourceStatusReason", None)
            return made | ({"ResourceStatusReason": reason} if reason else {})
        written = [
            event(9, "UPDATE_ROLLBACK_COMPLETE", STACK, "AWS::CloudFormation::Stack"),
            event(8, "UPDATE_COMPLETE", "EchoTaskDefinition", "AWS::ECS::TaskDefinition"),
            event(7, "UPDATE_ROLLBACK_IN_PROGRESS", STACK, "AWS::CloudFormation::Stack",
                  "The following resource(s) failed to update: [EchoService]."),
            event(6, "UPDATE_FAILED", "EchoService", reason=SERVICE_REASON),
            event(2, "UPDATE_IN_PROGRESS", "EchoService"),
            event(1, "UPDATE_COMPLETE", "EchoTaskDefinition", "AWS::ECS::TaskDefinition"),
        ]
        answer["StackEvents"] = written + moto_events[update_started:]
        return answer
    rewrite(clients, "cloudformation", "describe_stack_events", failing)

    def rolled_back(answer, _call):
        answer["Stacks"][0]["StackStatus"] = "UPDATE_ROLLBACK_COMPLETE"
        return answer
    rewrite(clients, "cloudformation", "describe_stacks", rolled_back)


def test_the_last_operation_only_with_its_failure_first(aws, monkeypatch, capsys):
    build_world(monkeypatch, "http://echo.invalid")
    failed_update(aws)
    code, lines, err = run(capsys)
    assert (code, err) == (0, "")
    assert lines[0].startswith(f"{STACK}: UPDATE_ROLLBACK_COMPLETE; last operation started ")
    assert lines[0].endswith(" (UPDATE_IN_PROGRESS)")
    failures = section(lines, "Failures")
    assert [text.split(" UTC ", 1)[1] for text in failures] == [
        f"UPDATE_FAILED AWS::ECS::Service EchoService: {SERVICE_REASON}",
        f"UPDATE_ROLLBACK_IN_PROGRESS AWS::CloudFormation::Stack {STACK}: "
        "The following resource(s) failed to update: [EchoService]."]
    operation = section(lines, "CloudFormation events of the last operation")
    assert [text.split(" UTC ", 1)[1].split(": ")[0] for text in operation] == [
        f"UPDATE_ROLLBACK_COMPLETE AWS::CloudFormation::Stack {STACK}",
        "UPDATE_COMPLETE AWS::ECS::TaskDefinition EchoTaskDefinition",
        f"UPDATE_ROLLBACK_IN_PROGRESS AWS::CloudFormation::Stack {STACK}",
        "UPDATE_FAILED AWS::ECS::Service EchoService",
        "UPDATE_IN_PROGRESS AWS::ECS::Service EchoService",
        "UPDATE_COMPLETE AWS::ECS::TaskDefinition EchoTaskDefinition",
        f"UPDATE_IN_PROGRESS AWS::CloudFormation::Stack {STACK}"]  # and nothing of the create before it
    assert not any("CREATE_" in text for text in lines)


def test_a_healthy_stack_lists_its_one_operation_and_no_failures(aws, monkeypatch, capsys):
    build_world(monkeypatch, "http://echo.invalid")
    code, lines, _ = run(capsys)
    assert code == 0
    assert section(lines, "Failures") == ["  none"]
    assert [text.split(" UTC ", 1)[1] for text in section(lines, "CloudFormation events")] == [
        f"CREATE_COMPLETE AWS::CloudFormation::Stack {STACK}",
        f"CREATE_IN_PROGRESS AWS::CloudFormation::Stack {STACK}: User Initiated"]
    assert section(lines, "ECS events of echo-service since deployment ecs-svc/") == ["  none"]
    assert section(lines, "Stopped tasks") == ["  none"]


def test_a_failed_deployment_shows_the_service_events_since_it_started_and_the_stopped_tasks(
        aws, monkeypatch, capsys):
    world = build_world(monkeypatch, "http://echo.invalid", running=0)
    ids = start_tasks(world, aws, {
        "crashed": {"stop": "Essential container in task exited", "stop_code": "EssentialContainerExited",
                    "exit": 1, "minutes": 3},
        "last release": {"stop": "Scaling activity initiated by deployment",
                         "stop_code": "ServiceSchedulerInitiated", "minutes": 30},
    })

    def failed_with_events(answer, _call):
        service = answer["services"][0]
        service["deployments"][0].update(rolloutState="FAILED", createdAt=NOW - timedelta(minutes=10))
        service["events"] = [  # newest first, as ECS answers
            {"id": "3", "createdAt": NOW - timedelta(minutes=2),
             "message": "(service echo-service) deployment ecs-svc/1 deployment failed: tasks failed to start."},
            {"id": "2", "createdAt": NOW - timedelta(minutes=4),
             "message": "(service echo-service) has started 1 tasks: (task abc)."},
            {"id": "1", "createdAt": NOW - timedelta(minutes=40),
             "message": "(service echo-service) has reached a steady state."}]
        return answer
    rewrite(aws, "ecs", "describe_services", failed_with_events)
    code, lines, _ = run(capsys)
    assert code == 0
    stopped = (f"task {ids['crashed']} echo-task:1, stopped {NOW - timedelta(minutes=3):%Y-%m-%d %H:%M:%S} UTC: "
               "EssentialContainerExited: Essential container in task exited (nginx exited 1)")
    assert section(lines, "Failures") == [f"  FAIL {stopped}"]
    assert [text.split(" UTC ", 1)[1] for text in section(lines, "ECS events of echo-service")] == [
        "(service echo-service) deployment ecs-svc/1 deployment failed: tasks failed to start.",
        "(service echo-service) has started 1 tasks: (task abc)."]
    assert section(lines, "Stopped tasks") == [f"  FAIL {stopped}"]  # the last release's stop is older


def test_a_stack_whose_first_create_rolled_back_still_shows_its_events(aws, capsys):
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}
    aws["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    code, lines, _ = run(capsys)
    assert code == 0
    assert section(lines, "ECS service events") == ["  none: the stack has no ClusterName/ServiceName outputs"]
    assert len(section(lines, "CloudFormation events")) == 2


def test_a_missing_stack_exits_1_with_one_line(aws, capsys):
    assert run(capsys) == (1, [], f"events: stack {STACK} not found in us-east-1\n")
