"""operate/verify.py (make verify) against moto's in-process AWS (its server for the emulator case) and a
real HTTP server on 127.0.0.1.

Each test builds a deployed-looking world with boto3 under mock_aws: a stack with the real stack's outputs,
a VPC, an ALB with an IP target group and registered targets, an ECS cluster, task definition and service
attached to the target group. What moto models is used as is:
- DescribeStacks (outputs, a missing stack), DescribeServices (desired/running/pending counts, a PRIMARY
  deployment with rolloutState and failedTasks), RunTask/StopTask/ListTasks/DescribeTasks (STOPPED tasks,
  their group and stoppedReason; ListTasks ignores serviceName, so the verifier also checks the group),
  DescribeTargetHealth (every registered target `healthy`, none registered → an empty list).
What moto lacks, and each test that needs it rewrites that one call's answer (Rewrite below):
- moto has no scheduler: runningCount and rolloutState (COMPLETED when running >= desired, else
  IN_PROGRESS) are fixed at CreateService from MOTO_ECS_SERVICE_RUNNING, and never FAILED, so a failed or a
  finishing rollout rewrites DescribeServices;
- DescribeTargetHealth never reports an unhealthy registered target (moto runs no health checks);
- DescribeTasks has no stopCode or stoppedAt, and every container's exitCode is 0.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from operate import verify

STACK, CLUSTER, SERVICE = "echo-fargate-dev", "echo-cluster", "echo-service"
CHECKS = ["stack", "running", "deployment", "failed-tasks", "target-health", "http"]
# One session for every test: mock_aws resets boto3's default session, and a new session loads the service
# models (EC2's is large) again, a few tenths of a second each time.
SESSION = boto3.Session(region_name="us-east-1")
BOTO3_CLIENTS = verify.aws_clients  # the real one, as `make verify` runs it; used by the healthy case
PAGES = {"/": (200, "Hello Docker!!\n"), "/wrong": (200, "Welcome to nginx!\n"), "/broken": (502, "Bad Gateway")}


LOGIN = "alice:s3cret"  # what /locked accepts, as nginx does with basic_auth_secret


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = PAGES.get(self.path, (404, "not found"))
        if self.path == "/locked":
            expected = "Basic " + base64.b64encode(LOGIN.encode()).decode()
            status, body = (200, PAGES["/"][1]) if self.headers.get("Authorization") == expected else (401, "no")
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Restricted"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site():
    """Stands in for the load balancer: answers like echo behind nginx, on loopback only."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_url():
    # A bound socket that never listens: the kernel refuses connections, and no one else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.fixture
def fake_credentials(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def aws(monkeypatch, fake_credentials):
    monkeypatch.setattr(verify, "aws_clients", lambda region, endpoint_url: {
        name: SESSION.client(name, region_name=region, endpoint_url=endpoint_url)
        for name in ("cloudformation", "ecs", "elbv2")})
    with mock_aws():
        yield


@pytest.fixture
def moto_server(fake_credentials):
    """moto's server on loopback: the emulator case, every call over HTTP to --endpoint-url."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = "http://{}:{}".format(*server.get_host_and_port())
    # The server shares this process's moto state with mock_aws: start and leave it empty.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5).close()
    yield url
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5).close()
    server.stop()


def build_world(monkeypatch, url: str, *, desired: int = 1, running: int | None = None, failed_tasks: int = 0,
                targets: int = 1, endpoint_url: str | None = None, basic_auth: bool = False) -> dict:
    # moto reads the running and failed counts of the service's one deployment at CreateService.
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(desired if running is None else running))
    monkeypatch.setenv("MOTO_ECS_SERVICE_FAILED_TASKS", str(failed_tasks))
    ec2, elbv2, ecs, cloudformation = (SESSION.client(name, endpoint_url=endpoint_url)
                                       for name in ("ec2", "elbv2", "ecs", "cloudformation"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # As CDK's VPC does; moto's RunTask also needs it for the tasks' network interfaces.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    alb = elbv2.create_load_balancer(Name="echo-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    target_group = elbv2.create_target_group(Name="echo-tg", Protocol="HTTP", Port=80, VpcId=vpc,
                                             TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])
    if targets:
        elbv2.register_targets(TargetGroupArn=target_group,
                               Targets=[{"Id": f"10.0.0.{10 + i}", "Port": 80} for i in range(targets)])
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group], "assignPublicIp": "ENABLED"}}
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="echo-task", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "nginx", "image": "stormcat24/nginx-proxy", "memory": 256,
                               "portMappings": [{"containerPort": 80}]}],
    )
    ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition="echo-task", desiredCount=desired,
        launchType="FARGATE", networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": target_group, "containerName": "nginx", "containerPort": 80}],
    )
    template = {
        "Resources": {"EchoLogs": {"Type": "AWS::Logs::LogGroup"}, "NginxLogs": {"Type": "AWS::Logs::LogGroup"}},
        "Outputs": {
            "ServiceUrl": {"Value": url}, "ClusterName": {"Value": CLUSTER}, "ServiceName": {"Value": SERVICE},
            "EchoLogGroup": {"Value": {"Ref": "EchoLogs"}}, "NginxLogGroup": {"Value": {"Ref": "NginxLogs"}},
            **({"BasicAuthSecret": {"Value": "/echo/htpasswd"}} if basic_auth else {}),
        },
    }
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return {"ecs": ecs, "network": network}


class Rewrite:
    """Stands in for one boto3 client: `operation` still goes to moto, then `change` edits its answer."""

    def __init__(self, operation: str, change) -> None:
        self.operation, self.change, self.client, self.calls = operation, change, None, 0

    def __getattr__(self, name: str):
        real = getattr(self.client, name)
        if name != self.operation:
            return real

        def call(**kwargs):
            self.calls += 1
            return self.change(real(**kwargs), self.calls)
        return call


def rewrite(monkeypatch, service: str, operation: str, change) -> Rewrite:
    wrapper, real_clients = Rewrite(operation, change), verify.aws_clients

    def clients(*args):
        made = real_clients(*args)
        wrapper.client, made[service] = made[service], wrapper
        return made
    monkeypatch.setattr(verify, "aws_clients", clients)
    return wrapper


def run(capsys, *args: str, deadline: str = "0") -> tuple[int, list[str], str, float]:
    started = time.monotonic()
    code = verify.main(["--stack", STACK, "--deadline", deadline, "--interval", "0.05", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err, time.monotonic() - started


def line(lines: list[str], check: str) -> str:
    (found,) = [text for text in lines if text.split(" ", 2)[1] == f"{check}:"]
    return found


def test_a_healthy_service_passes_every_check_and_gets_the_body_from_the_service_url(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)
    monkeypatch.setattr(verify, "aws_clients", BOTO3_CLIENTS)
    code, lines, err, _ = run(capsys)
    assert code == 0, lines
    assert [text.split(" ", 2)[:2] for text in lines] == [["ok", f"{check}:"] for check in CHECKS]
    assert line(lines, "stack") == f"ok stack: {STACK} CREATE_COMPLETE"
    assert line(lines, "running") == "ok running: 1/1 tasks running, 0 pending"
    assert line(lines, "target-health") == "ok target-health: 1/1 targets healthy in echo-tg"
    assert line(lines, "http") == f"ok http: GET {site}: 200 'Hello Docker!!'"
    assert err == ""


def test_too_few_running_tasks_fail_with_the_counts(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, desired=2, running=1)
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert len(lines) == len(CHECKS)
    assert line(lines, "running") == "FAIL running: 1/2 tasks running, 1 pending"
    assert line(lines, "deployment").startswith("FAIL deployment: ecs-svc/")
    assert "still IN_PROGRESS: 1/2 tasks of echo-task:1 running" in line(lines, "deployment")
    assert line(lines, "http").startswith("ok http:")


def test_a_service_scaled_to_zero_is_not_running(aws, monkeypatch, capsys, site):
    """shared/notes/findings.md: desiredCount 0 was reported as "0/0 tasks running", a pass."""
    build_world(monkeypatch, site, desired=0, running=0)
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert line(lines, "running") == ("FAIL running: 0/0 tasks running, 0 pending: desiredCount is 0, "
                                      "the service runs nothing")


def test_a_failed_rollout_fails_at_once_without_waiting_for_the_deadline(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, running=0)

    def circuit_breaker_tripped(answer, _call):
        deployment = answer["services"][0]["deployments"][0]
        deployment.update(rolloutState="FAILED", failedTasks=3,
                          rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
        return answer
    describe = rewrite(monkeypatch, "ecs", "describe_services", circuit_breaker_tripped)
    code, lines, err, took = run(capsys, deadline="30")
    assert code == 1
    assert describe.calls == 1 and took < 5 and err == ""
    assert line(lines, "deployment").endswith("FAILED: ECS deployment circuit breaker: tasks failed to start.")
    assert line(lines, "failed-tasks").startswith("FAIL failed-tasks: deployment ecs-svc/")


def test_an_unhealthy_target_fails_naming_the_target_and_the_reason(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, targets=2)

    def second_target_failing(answer, _call):
        answer["TargetHealthDescriptions"][1]["TargetHealth"] = {
            "State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
            "Description": "Health checks failed with these codes: [502]"}
        return answer
    rewrite(monkeypatch, "elbv2", "describe_target_health", second_target_failing)
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert [text for text in lines if text.startswith("FAIL")] == [
        "FAIL target-health: 1 of 2 not healthy: 10.0.0.11:80 unhealthy (Target.ResponseCodeMismatch)"]


def test_a_target_group_without_targets_fails(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, targets=0)
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert line(lines, "target-health") == "FAIL target-health: no targets registered in echo-tg"


@pytest.mark.parametrize(("path", "reason"), [
    ("/wrong", "body 'Welcome to nginx!', expected 'Hello Docker!!'"),
    ("/broken", "HTTP 502, expected 200"),
])
def test_a_wrong_answer_fails_the_http_check(aws, monkeypatch, capsys, site, path, reason):
    build_world(monkeypatch, site)
    code, lines, _, _ = run(capsys, "--url", f"{site}{path}")
    assert code == 1
    assert [text for text in lines if text.startswith("FAIL")] == [f"FAIL http: GET {site}{path}: {reason}"]


def test_a_url_that_does_not_answer_fails_the_http_check(aws, monkeypatch, capsys, site, closed_url):
    build_world(monkeypatch, site)
    code, lines, _, _ = run(capsys, "--url", closed_url)
    assert code == 1
    assert line(lines, "http").startswith(f"FAIL http: GET {closed_url}: ")
    assert "Connection refused" in line(lines, "http")


def test_a_rollout_that_completes_during_the_wait_passes(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)

    def rolling_for_two_rounds(answer, call):
        if call <= 2:
            service = answer["services"][0]
            service.update(runningCount=0, pendingCount=1)
            service["deployments"][0].update(runningCount=0, pendingCount=1, rolloutState="IN_PROGRESS")
        return answer
    describe = rewrite(monkeypatch, "ecs", "describe_services", rolling_for_two_rounds)
    code, lines, err, took = run(capsys, deadline="5")
    assert code == 0, lines
    assert describe.calls == 3 and took < 5
    assert [text.split(" (")[0] for text in err.splitlines()] == ["verify: waiting for running, deployment"] * 2


def test_the_deadline_ends_a_rollout_that_stays_in_progress(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, running=0)
    code, lines, err, took = run(capsys, deadline="0.3")
    assert code == 1
    assert 0.3 <= took < 3
    assert "still IN_PROGRESS: 0/1 tasks of echo-task:1 running" in line(lines, "deployment")
    assert line(lines, "running") == "FAIL running: 0/1 tasks running, 1 pending"
    assert len(err.splitlines()) >= 2


def test_failed_tasks_of_the_deployment_fail_the_check(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site, failed_tasks=2)
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert "counts 2 failed task(s)" in line(lines, "failed-tasks")


def test_only_recent_abnormal_stops_of_the_service_fail_the_check(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site)
    ecs, now = world["ecs"], datetime.now(UTC)
    stops = {  # group, then what moto leaves out of DescribeTasks
        "crashed": ("service:" + SERVICE, {"stopCode": "EssentialContainerExited", "exitCode": 1, "minutes": 2}),
        "replaced": ("service:" + SERVICE, {"stopCode": "ServiceSchedulerInitiated", "exitCode": 0, "minutes": 1}),
        "long ago": ("service:" + SERVICE, {"stopCode": "TaskFailedToStart", "exitCode": None, "minutes": 30}),
        "other": ("family:other", {"stopCode": "EssentialContainerExited", "exitCode": 1, "minutes": 1}),
    }
    arns = {}
    for name, (group, _) in stops.items():
        (task,) = ecs.run_task(cluster=CLUSTER, taskDefinition="echo-task", launchType="FARGATE", group=group,
                               networkConfiguration=world["network"])["tasks"]
        ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason=f"{name}: Essential container in task exited")
        arns[task["taskArn"]] = stops[name][1]

    def with_stop_details(answer, _call):
        for task in answer["tasks"]:
            details = arns[task["taskArn"]]
            task.update(stopCode=details["stopCode"], stoppedAt=now - timedelta(minutes=details["minutes"]))
            task["containers"][0]["exitCode"] = details["exitCode"]
        return answer
    rewrite(monkeypatch, "ecs", "describe_tasks", with_stop_details)
    code, lines, _, _ = run(capsys)
    assert code == 1
    crashed = next(arn for arn, details in arns.items() if details["minutes"] == 2).rsplit("/", 1)[-1][:12]
    assert line(lines, "failed-tasks") == (
        f"FAIL failed-tasks: task {crashed} stopped: EssentialContainerExited "
        "(crashed: Essential container in task exited), nginx exited 1")


@pytest.mark.parametrize("how", ["--endpoint-url", "AWS_ENDPOINT_URL"])
def test_an_emulator_is_reached_through_the_endpoint_url(moto_server, monkeypatch, capsys, site, how):
    build_world(monkeypatch, site, endpoint_url=moto_server)
    if how == "AWS_ENDPOINT_URL":
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    code, lines, _, _ = run(capsys, *(["--endpoint-url", moto_server] if how == "--endpoint-url" else []))
    assert code == 0, lines
    assert len(lines) == len(CHECKS)


def test_an_emulator_that_does_not_answer_fails_the_stack_check(fake_credentials, monkeypatch, capsys, closed_url):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries with backoff
    code, lines, _, _ = run(capsys, "--endpoint-url", closed_url)
    assert (code, lines) == (1, [f'FAIL stack: Could not connect to the endpoint URL: "{closed_url}"'])


def test_a_missing_stack_is_one_failing_line(aws, capsys):
    code, lines, err, _ = run(capsys, deadline="30")
    assert (code, lines, err) == (1, [f"FAIL stack: stack {STACK} not found in us-east-1"], "")


def test_a_stack_without_the_service_outputs_fails(aws, capsys):
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}, "Outputs": {"ServiceUrl": {"Value": "x"}}}
    SESSION.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    code, lines, _, _ = run(capsys)
    assert (code, lines) == (1, [f"FAIL stack: {STACK} (CREATE_COMPLETE) lacks outputs: ClusterName, ServiceName"])


@pytest.mark.parametrize(("region", "message"), [
    ("us-east-1", "verify: Unable to locate credentials (e.g. set AWS_PROFILE)"),
    (None, "verify: You must specify a region. (pass --region or set AWS_REGION)"),
])
def test_no_credentials_or_region_exit_2_with_one_line(monkeypatch, capsys, tmp_path, closed_url, region, message):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probe, no waiting
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    # Nothing listens at the endpoint, so even a credential found elsewhere could not reach anything.
    code = verify.main(["--endpoint-url", closed_url])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", message + "\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--interval", "0"], "argument --interval: must be above 0"),
    (["--deadline", "-1"], "argument --deadline: '-1' is not a number of 0 or more"),
    (["--url", "file:///etc/passwd"], "argument --url: 'file:///etc/passwd' is not an http(s) URL"),
])
def test_bad_arguments_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        verify.main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.splitlines()[-1].endswith(message)


def test_make_local_skips_what_the_emulator_cannot_run_and_gets_the_local_task(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, "http://emulated-alb.invalid", running=0, targets=0)  # as moto leaves a CDK stack
    code, lines, _, _ = run(capsys, "--local-task-url", site)
    assert code == 0, lines
    for check in ("running", "deployment", "failed-tasks", "target-health"):
        assert line(lines, check) == (f"skip {check}: the local AWS runs no containers; "
                                      "the task runs on this machine (make run)")
    assert line(lines, "stack").startswith("ok stack:")
    assert line(lines, "http") == f"ok http: GET {site}: 200 'Hello Docker!!'"


def test_make_local_fails_when_the_local_task_does_not_answer(aws, monkeypatch, capsys, closed_url):
    build_world(monkeypatch, "http://emulated-alb.invalid", running=0, targets=0)
    code, lines, _, _ = run(capsys, "--local-task-url", closed_url, deadline="0")
    assert code == 1
    assert line(lines, "http").startswith(f"FAIL http: GET {closed_url}:")
    assert [text for text in lines if text.startswith("FAIL")] == [line(lines, "http")]


def test_a_rolled_back_stack_fails_at_once_even_when_the_service_is_steady(aws, monkeypatch, capsys, site):
    build_world(monkeypatch, site)

    def rolled_back(answer, _calls):
        answer["Stacks"][0]["StackStatus"] = "UPDATE_ROLLBACK_COMPLETE"
        return answer
    rewrite(monkeypatch, "cloudformation", "describe_stacks", rolled_back)
    code, lines, _, elapsed = run(capsys, deadline="30")
    assert code == 1
    assert lines == [f"FAIL stack: {STACK} UPDATE_ROLLBACK_COMPLETE: the last deployment did not land"]
    assert elapsed < 5


def test_blue_green_targets_in_the_alternate_group_count(aws, monkeypatch, capsys, site):
    world = build_world(monkeypatch, site, targets=0)
    elbv2 = SESSION.client("elbv2")
    vpc = SESSION.client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]
    green = elbv2.create_target_group(Name="echo-green", Protocol="HTTP", Port=80, VpcId=vpc["VpcId"],
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    (balancer,) = elbv2.describe_load_balancers(Names=["echo-alb"])["LoadBalancers"]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=1,
                      Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
                      Actions=[{"Type": "forward", "TargetGroupArn": green}])
    elbv2.register_targets(TargetGroupArn=green, Targets=[{"Id": "10.0.1.10", "Port": 80}])

    def with_alternate(answer, _calls):
        for service in answer["services"]:
            for lb in service["loadBalancers"]:
                lb["advancedConfiguration"] = {"alternateTargetGroupArn": green}
        return answer
    rewrite(monkeypatch, "ecs", "describe_services", with_alternate)
    assert world["ecs"]  # the service exists in moto; only the blue/green field is added
    code, lines, _, _ = run(capsys)
    assert code == 0, lines
    assert line(lines, "target-health") == "ok target-health: 1/1 targets healthy in echo-tg, echo-green"


def test_behind_basic_auth_without_credentials_the_check_is_that_the_door_is_shut(aws, monkeypatch, capsys, site):
    monkeypatch.delenv("VERIFY_BASIC_AUTH", raising=False)
    build_world(monkeypatch, f"{site}/locked", basic_auth=True)
    code, lines, _, _ = run(capsys)
    assert code == 0, lines
    assert line(lines, "http").startswith(
        f'ok http: GET {site}/locked: 401 Basic realm="Restricted" (basic_auth_secret')


def test_behind_basic_auth_an_open_door_fails(aws, monkeypatch, capsys, site):
    monkeypatch.delenv("VERIFY_BASIC_AUTH", raising=False)
    build_world(monkeypatch, site, basic_auth=True)  # "/" answers 200 to anyone
    code, lines, _, _ = run(capsys)
    assert code == 1
    assert line(lines, "http") == (f"FAIL http: GET {site} without credentials: HTTP 200, expected 401 with a Basic "
                                   "challenge (the stack has basic_auth_secret)")


@pytest.mark.parametrize(("login", "expected"), [
    (LOGIN, "ok http: GET {site}/locked: 200 'Hello Docker!!'"),
    ("alice:wrong", "FAIL http: GET {site}/locked: HTTP 401, expected 200 (VERIFY_BASIC_AUTH was refused)"),
])
def test_behind_basic_auth_verify_basic_auth_checks_the_answer_behind_the_login(aws, monkeypatch, capsys, site,
                                                                               login, expected):
    monkeypatch.setenv("VERIFY_BASIC_AUTH", login)
    build_world(monkeypatch, f"{site}/locked", basic_auth=True)
    _, lines, out, _ = run(capsys)
    assert line(lines, "http") == expected.format(site=site)
    assert "s3cret" not in "\n".join(lines) + out and "wrong" not in "\n".join(lines) + out
