"""operate/status.py (make status) against moto's in-process AWS and a real HTTP server on 127.0.0.1.

The world is test_verify's (build_world: a stack with the real outputs, an ALB target group, an ECS service);
tasks are real moto tasks (RunTask with the service's group, StopTask). What moto cannot hold is rewritten
on the one call that answers it (Rewrite, as in test_verify):
- DescribeServices: moto keeps one deployment whose rollout state is fixed at CreateService, and no events,
  so a rollout in progress (two deployments) or a FAILED one is written into the answer;
- DescribeTasks: no healthStatus, startedAt, stoppedAt or stopCode, every exitCode 0, and a lastStatus that
  moto's state machine moves on at each call;
- DescribeTargetHealth: every registered target is healthy (moto runs no health checks);
- DescribeStackResources: moto's CloudFormation creates no AWS::CloudWatch::Alarm, so the alarms are made
  with PutMetricAlarm (named as CloudFormation names them) and listed as the stack's resources.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from operate import status
from tests import test_verify
from tests.test_verify import CLUSTER, SERVICE, SESSION, STACK, Rewrite, build_world

# test_verify's fixtures: fake credentials, a site answering as echo does, a port that refuses connections.
fake_credentials, site, closed_url = test_verify.fake_credentials, test_verify.site, test_verify.closed_url

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _now():
    """Each test's own now: verify counts stops of the last 10 minutes of the real clock, and a suite can take
    longer than that to reach this module."""
    global NOW
    NOW = datetime.now(UTC)


@pytest.fixture
def aws(monkeypatch, fake_credentials):
    with mock_aws():
        clients = {name: SESSION.client(name) for name in status.SERVICES}
        monkeypatch.setattr(status, "aws_clients", lambda region, endpoint_url, services: clients)
        yield clients


def rewrite(clients: dict, service: str, operation: str, change) -> Rewrite:
    wrapper = Rewrite(operation, change)
    wrapper.client, clients[service] = clients[service], wrapper
    return wrapper


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = status.main(["--env", "dev", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def start_tasks(world: dict, clients: dict, tasks: dict[str, dict]) -> dict[str, str]:
    """Runs one moto task per entry; `stop` stops it. Then DescribeTasks reports each entry's details."""
    ids = {}
    for name, details in tasks.items():
        (task,) = world["ecs"].run_task(cluster=CLUSTER, taskDefinition=details.get("revision", "echo-task"),
                                        launchType="FARGATE", group=f"service:{SERVICE}",
                                        networkConfiguration=world["network"])["tasks"]
        if "stop" in details:
            world["ecs"].stop_task(cluster=CLUSTER, task=task["taskArn"], reason=details["stop"])
        ids[task["taskArn"]] = name

    def with_details(answer, _call):
        for task in answer["tasks"]:
            details = tasks[ids[task["taskArn"]]]
            # moto moves a task through its statuses on each call (DEACTIVATING when read); pin the one meant.
            started = NOW - timedelta(minutes=details.get("minutes", 4) + 1)  # a minute before any stop
            task.update(healthStatus=details.get("health", "UNKNOWN"), startedAt=started,
                        lastStatus="STOPPED" if "stop" in details else "RUNNING")
            if "stop" in details:
                task.update(stoppedAt=NOW - timedelta(minutes=details.get("minutes", 1)),
                            stopCode=details["stop_code"])
                task["containers"][0].update(exitCode=details.get("exit", 0), reason=details.get("exit_reason", ""))
                if not details.get("exit_reason"):
                    task["containers"][0].pop("reason")
        return answer
    rewrite(clients, "ecs", "describe_tasks", with_details)
    return {name: arn.rsplit("/", 1)[-1] for arn, name in ids.items()}


def second_revision(world: dict) -> str:
    world["ecs"].register_task_definition(
        family="echo-task", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "nginx", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/nginx-proxy:v2",
                               "memory": 256, "portMappings": [{"containerPort": 80}]}])
    return "echo-task:2"


def section(lines: list[str], title: str) -> list[str]:
    start = next(i for i, text in enumerate(lines) if text.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


def test_a_healthy_service_is_one_healthy_screen(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site)
    ids = start_tasks(world, aws, {"serving": {"health": "HEALTHY"}})
    code, lines, err = run(capsys)
    assert (code, err) == (0, ""), lines
    assert lines[0].startswith(f"{STACK}: HEALTHY at ")
    assert [text.split(" ", 4)[2:4] for text in lines[1:7]] == [
        ["ok", f"{name}:"] for name in ("stack", "running", "deployment", "failed-tasks", "target-health", "http")]
    assert "Stack        CREATE_COMPLETE, last updated " in "\n".join(lines)
    assert f"Service      {SERVICE} in {CLUSTER}: desired 1, running 1, pending 0" in lines
    deployments = section(lines, "Deployments")
    assert deployments[1].startswith("  PRIMARY ecs-svc/") and " COMPLETED echo-task:1 1/1 running" in deployments[1]
    assert deployments[2] == "    images: nginx=stormcat24/nginx-proxy"
    assert section(lines, "Tasks")[1].startswith(f"  {ids['serving']} RUNNING health HEALTHY echo-task:1, started ")
    assert section(lines, "Stopped tasks")[1:] == ["  none"]
    assert section(lines, "Targets")[1:] == ["  echo-tg: 10.0.0.10:80 healthy"]
    assert section(lines, "Alarms")[1:] == ["  skip: monitoring is off (no AlarmTopicArn output)"]
    assert section(lines, "URL")[1:] == [f"  ok GET {site}: 200 'Hello Docker!!'"]


def test_a_rollout_in_progress_shows_both_deployments_with_their_images(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site, desired=2)
    new = second_revision(world)

    def rolling(answer, _call):
        service = answer["services"][0]
        old = service["deployments"][0]
        service.update(runningCount=3, pendingCount=1)
        service["deployments"] = [
            dict(old, id="ecs-svc/new", taskDefinition=old["taskDefinition"].replace(":1", ":2"), runningCount=1,
                 pendingCount=1, rolloutState="IN_PROGRESS", rolloutStateReason="ECS deployment in progress."),
            dict(old, status="ACTIVE")]
        return answer
    rewrite(aws, "ecs", "describe_services", rolling)
    code, lines, _ = run(capsys)
    assert code == 1
    assert lines[0].startswith(f"{STACK}: NOT HEALTHY (running, deployment) at ")
    assert lines[1] == "  FAIL running: 3/2 tasks running, 1 pending"
    assert lines[2].startswith("  FAIL deployment: ecs-svc/new still IN_PROGRESS: 1/2 tasks of echo-task:2 running")
    deployments = section(lines, "Deployments")
    assert deployments[1].startswith(f"  PRIMARY ecs-svc/new IN_PROGRESS {new} 1/2 running, 1 pending")
    assert deployments[2] == "    images: nginx=123456789012.dkr.ecr.us-east-1.amazonaws.com/nginx-proxy:v2"
    assert deployments[3].startswith("  ACTIVE ecs-svc/") and " COMPLETED echo-task:1 2/2 running" in deployments[3]
    assert deployments[4] == "    images: nginx=stormcat24/nginx-proxy"


def test_a_failed_deployment_shows_the_stopped_tasks_reasons_first(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site, running=0)
    ids = start_tasks(world, aws, {
        "replaced": {"stop": "Scaling activity initiated by deployment", "stop_code": "ServiceSchedulerInitiated",
                     "minutes": 1},
        "crashed": {"stop": "Essential container in task exited", "stop_code": "EssentialContainerExited",
                    "exit": 1, "exit_reason": "nginx: [emerg] host not found", "minutes": 2},
    })

    def circuit_breaker_tripped(answer, _call):
        answer["services"][0]["deployments"][0].update(
            rolloutState="FAILED", failedTasks=3,
            rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
        return answer
    rewrite(aws, "ecs", "describe_services", circuit_breaker_tripped)
    code, lines, _ = run(capsys)
    assert code == 1
    assert lines[1].startswith("  FAIL running: 0/1")
    assert lines[2].endswith("FAILED: ECS deployment circuit breaker: tasks failed to start.")
    assert f"task {ids['crashed'][:12]} stopped: EssentialContainerExited" in lines[3]
    assert " FAILED echo-task:1 0/1 running, 1 pending, 3 failed" in section(lines, "Deployments")[1]
    assert section(lines, "Stopped tasks")[1:] == [
        f"  FAIL {ids['crashed']} echo-task:1, stopped {(NOW - timedelta(minutes=2)):%Y-%m-%d %H:%M:%S UTC}: "
        "EssentialContainerExited: Essential container in task exited "
        "(nginx exited 1 (nginx: [emerg] host not found))",
        f"  {ids['replaced']} echo-task:1, stopped {(NOW - timedelta(minutes=1)):%Y-%m-%d %H:%M:%S UTC}: "
        "ServiceSchedulerInitiated: Scaling activity initiated by deployment"]


def test_unhealthy_targets_come_first_in_each_group_of_a_blue_green_service(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, targets=2)
    elbv2 = aws["elbv2"]
    (blue,) = elbv2.describe_target_groups(Names=["echo-tg"])["TargetGroups"]
    green = elbv2.create_target_group(Name="echo-green", Protocol="HTTP", Port=80, VpcId=blue["VpcId"],
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]

    def with_alternate(answer, _call):
        answer["services"][0]["loadBalancers"][0]["advancedConfiguration"] = {"alternateTargetGroupArn": green}
        return answer

    def second_blue_target_failing(answer, _call):
        for target in answer["TargetHealthDescriptions"]:
            if target["Target"]["Id"] == "10.0.0.11":
                target["TargetHealth"] = {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch"}
        return answer
    rewrite(aws, "ecs", "describe_services", with_alternate)
    rewrite(aws, "elbv2", "describe_target_health", second_blue_target_failing)
    code, lines, _ = run(capsys)
    assert code == 1
    assert lines[1] == ("  FAIL target-health: 1 of 2 not healthy: 10.0.0.11:80 unhealthy "
                        "(Target.ResponseCodeMismatch)")
    assert section(lines, "Targets")[1:] == [
        "  echo-tg: 10.0.0.11:80 unhealthy (Target.ResponseCodeMismatch), 10.0.0.10:80 healthy",
        "  echo-green: no targets registered"]


def with_monitoring(clients: dict, states: list[tuple[str, str]]) -> list[str]:
    """Turns monitoring on as the real stack does (an AlarmTopicArn output) and makes its alarms."""
    cloudformation = clients["cloudformation"]
    body = cloudformation.get_template(StackName=STACK)["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body  # botocore parses a JSON body itself
    template["Resources"]["AlarmTopic"] = {"Type": "AWS::SNS::Topic"}
    template["Outputs"]["AlarmTopicArn"] = {"Value": {"Ref": "AlarmTopic"}}
    # Made again rather than updated: moto's UpdateStack drops the unchanged resources' types and outputs.
    cloudformation.delete_stack(StackName=STACK)
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    names = [f"{STACK}-{logical}-{suffix}" for logical, suffix in
             (("MonitoringTarget5xx", "A1B2C3"), ("MonitoringUnhealthyHosts", "D4E5F6"), ("MonitoringCpu", "G7H8I9"))]
    for name in names:
        clients["cloudwatch"].put_metric_alarm(
            AlarmName=name, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold")
    # An alarm of another stack that shares the prefix: not this stack's.
    clients["cloudwatch"].put_metric_alarm(
        AlarmName=f"{STACK}-hardened-MonitoringCpu-Z9", MetricName="CPUUtilization", Namespace="AWS/ECS",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold")
    for name, (state, reason) in zip(names, states, strict=False):  # moto starts an alarm OK, AWS does not
        clients["cloudwatch"].set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def alarms_as_resources(answer, _call):
        answer["StackResources"] += [{"LogicalResourceId": name.split("-")[2], "PhysicalResourceId": name,
                                      "ResourceType": "AWS::CloudWatch::Alarm"} for name in names]
        return answer
    rewrite(clients, "cloudformation", "describe_stack_resources", alarms_as_resources)
    return names


def test_an_alarm_in_alarm_fails_and_comes_first(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)
    names = with_monitoring(aws, [
        ("OK", "Threshold Crossed: 0 datapoints"),
        ("ALARM", "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)."),
        ("INSUFFICIENT_DATA", "Insufficient Data: 1 datapoint was unknown.")])
    code, lines, _ = run(capsys)
    assert code == 1
    assert lines[0].startswith(f"{STACK}: NOT HEALTHY (alarms) at ")
    assert lines[1] == f"  FAIL alarms: 1 of 3 in ALARM: {names[1]}"
    assert section(lines, "Alarms")[1:] == [
        f"  ALARM {names[1]}: Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).",
        f"  INSUFFICIENT_DATA {names[2]}: Insufficient Data: 1 datapoint was unknown.",
        f"  OK {names[0]}: Threshold Crossed: 0 datapoints"]


def test_alarms_not_in_alarm_pass(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)
    with_monitoring(aws, [("OK", "Threshold Crossed"), ("INSUFFICIENT_DATA", "no data"),
                          ("INSUFFICIENT_DATA", "no data")])
    code, lines, _ = run(capsys)
    assert code == 0, lines
    assert "  ok alarms: 3 of 3 not in ALARM (2 with insufficient data)" in lines


def test_json_is_one_document_with_the_same_facts(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site, targets=2)
    ids = start_tasks(world, aws, {"serving": {"health": "HEALTHY"}})
    code, lines, _ = run(capsys, "--json")
    document = json.loads("\n".join(lines))
    assert code == 0 and document["healthy"] is True
    assert document["skipped"] == []
    assert set(document) == {"stack", "time", "healthy", "skipped", "checks", "stack_status", "service",
                             "deployments", "tasks", "stopped_tasks", "target_groups", "alarms", "url"}
    assert [(check["name"], check["state"]) for check in document["checks"]] == [
        (name, "ok") for name in ("stack", "running", "deployment", "failed-tasks", "target-health", "http")]
    assert document["service"] == {"name": SERVICE, "cluster": CLUSTER, "desired": 1, "running": 1, "pending": 0}
    (deployment,) = document["deployments"]
    assert (deployment["revision"], deployment["images"], deployment["rollout_state"]) == (
        "echo-task:1", {"nginx": "stormcat24/nginx-proxy"}, "COMPLETED")
    assert [(task["id"], task["health"]) for task in document["tasks"]] == [(ids["serving"], "HEALTHY")]
    assert datetime.fromisoformat(document["tasks"][0]["started_at"]) == NOW - timedelta(minutes=5)
    assert [target["state"] for target in document["target_groups"][0]["targets"]] == ["healthy", "healthy"]
    assert document["url"] == {"url": site, "state": "ok", "detail": f"GET {site}: 200 'Hello Docker!!'"}


class FakeClock:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_watch_redraws_until_the_deadline_while_the_rollout_stays_in_progress(aws, monkeypatch, site):
    build_world(monkeypatch, site, running=0)
    fake, screens = FakeClock(), []
    snapshot = status.watch(status.Status(aws), STACK, as_json=False, watching=True, interval=5, deadline=12,
                            out=screens.append, sleep=fake.sleep, monotonic=fake.monotonic)
    assert not snapshot.healthy
    assert fake.sleeps == [5, 5, 2]
    separators = [screen for screen in screens if screen.startswith("==== ")]
    assert [text.split(", ", 1)[1] for text in separators] == [
        "round 1, 12 s left (Ctrl-C stops) ====", "round 2, 7 s left (Ctrl-C stops) ====",
        "round 3, 2 s left (Ctrl-C stops) ====", "round 4, 0 s left (Ctrl-C stops) ===="]
    assert len(screens) == 8 and all("NOT HEALTHY (running, deployment)" in screen for screen in screens[1::2])


def test_watch_stops_once_healthy(aws, monkeypatch, site):
    build_world(monkeypatch, site)

    def pending_in_round_one(answer, call):
        if call == 1:
            answer["services"][0].update(runningCount=0, pendingCount=1)
        return answer
    rewrite(aws, "ecs", "describe_services", pending_in_round_one)
    fake, screens = FakeClock(), []
    snapshot = status.watch(status.Status(aws), STACK, as_json=True, watching=True, interval=5, deadline=900,
                            out=screens.append, sleep=fake.sleep, monotonic=fake.monotonic)
    assert snapshot.healthy and fake.sleeps == [5]
    assert [json.loads(screen)["healthy"] for screen in screens] == [False, True]  # JSON lines, no separators


def test_make_local_skips_what_the_emulator_cannot_run(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, "http://emulated-alb.invalid", running=0, targets=0)  # as moto leaves a CDK stack
    with_monitoring(aws, [("ALARM", "moto's alarms are not the stack's: the local case never reads them")])
    code, lines, _ = run(capsys, "--local-task-url", site)
    reason = "the local AWS runs no containers; the task runs on this machine (make run)"
    assert code == 0, lines
    assert lines[0].startswith(f"{STACK}: no failures, 5 not checked (running, deployment, failed-tasks, "
                               "target-health, alarms) at ")
    for check in ("running", "deployment", "failed-tasks", "target-health"):
        assert f"  skip {check}: {reason}" in lines
    assert "  skip alarms: the local AWS's CloudFormation creates no CloudWatch alarms" in lines
    assert f"Service      {SERVICE} in {CLUSTER}: desired 1, running skip, pending skip ({reason})" in lines
    assert " skip echo-task:1, since " in section(lines, "Deployments")[1]
    for title in ("Tasks", "Stopped tasks", "Targets"):
        assert section(lines, title)[1:] == [f"  skip: {reason}"]
    assert section(lines, "URL")[1:] == [f"  ok GET {site}: 200 'Hello Docker!!'"]


def test_make_local_fails_when_the_local_task_does_not_answer(aws, monkeypatch, capsys, closed_url):
    build_world(monkeypatch, "http://emulated-alb.invalid", running=0, targets=0)
    code, lines, _ = run(capsys, "--local-task-url", closed_url)
    assert code == 1
    assert lines[0].startswith(f"{STACK}: NOT HEALTHY (http) at ")
    assert lines[1].startswith(f"  FAIL http: GET {closed_url}: ")


def test_a_missing_stack_is_one_failing_line(aws, capsys):
    code, lines, err = run(capsys)
    assert (code, lines[1:], err) == (1, [f"  FAIL stack: stack {STACK} not found in us-east-1"], "")
    assert lines[0].startswith(f"{STACK}: NOT HEALTHY (stack) at ")


def test_no_region_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    code, lines, err = run(capsys)
    assert (code, lines, err) == (2, [], "status: You must specify a region. (pass --region or set AWS_REGION)\n")


def test_a_zero_interval_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        status.main(["--watch", "--interval", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("argument --interval: must be above 0")


def test_an_aws_error_in_one_section_fails_its_check_and_the_rest_still_shows(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)
    with_monitoring(aws, [("OK", "Threshold Crossed")] * 3)

    def denied(_answer, _call):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed: cloudwatch:DescribeAlarms"}},
                          "DescribeAlarms")
    rewrite(aws, "cloudwatch", "describe_alarms", denied)
    code, lines, err = run(capsys)
    assert (code, err) == (1, "")
    reason = "DescribeAlarms: AccessDenied: not allowed: cloudwatch:DescribeAlarms"
    assert lines[1] == f"  FAIL alarms: {reason}"
    assert section(lines, "Alarms")[1:] == [f"  error: {reason}"]
    assert section(lines, "Targets")[1:] == ["  echo-tg: 10.0.0.10:80 healthy"]


def test_a_stack_without_the_service_outputs_is_its_stack_check_only(aws, capsys):
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}},
                "Outputs": {"ClusterName": {"Value": CLUSTER}, "ServiceName": {"Value": SERVICE}}}
    aws["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    code, lines, _ = run(capsys)
    assert (code, lines[1:]) == (1, [f"  FAIL stack: {STACK} (CREATE_COMPLETE) lacks outputs: ServiceUrl"])
