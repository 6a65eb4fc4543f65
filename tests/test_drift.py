"""make drift: CloudFormation drift detection, read through botocore's Stubber in the real API shapes
(moto does not implement drift detection), and the skip against an emulator that lacks it."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from operate import drift
from operate.drift import DriftDetector

STACK = "echo-fargate-dev"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/0a1b2c3d-0000-0000-0000-000000000000"
DETECTION = "b78ac9b0-dec1-11e7-a451-503a3407c0aa"


def client():
    return boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def resource_drift(logical_id, resource_type, status="MODIFIED", differences=()):
    drifted = {
        "StackId": STACK_ID, "LogicalResourceId": logical_id, "PhysicalResourceId": f"{logical_id}-physical",
        "ResourceType": resource_type, "StackResourceDriftStatus": status,
        "Timestamp": "2026-12-01T12:00:00Z", "ExpectedProperties": "{}", "ActualProperties": "{}",
    }
    if differences:
        drifted["PropertyDifferences"] = [
            {"PropertyPath": path, "ExpectedValue": expected, "ActualValue": actual, "DifferenceType": kind}
            for path, expected, actual, kind in differences]
    return drifted


def stubbed(status="DETECTION_COMPLETE", drift_status="DRIFTED", pages=((),), in_progress=0):
    cloudformation = client()
    stub = Stubber(cloudformation)
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": DETECTION}, {"StackName": STACK})
    for _ in range(in_progress):
        stub.add_response("describe_stack_drift_detection_status", {
            "StackId": STACK_ID, "StackDriftDetectionId": DETECTION, "DetectionStatus": "DETECTION_IN_PROGRESS",
            "Timestamp": "2026-12-01T12:00:00Z"}, {"StackDriftDetectionId": DETECTION})
    final = {"StackId": STACK_ID, "StackDriftDetectionId": DETECTION, "DetectionStatus": status,
             "StackDriftStatus": drift_status, "Timestamp": "2026-12-01T12:00:05Z"}
    if status == "DETECTION_FAILED":
        final["DetectionStatusReason"] = "Failed to detect drift on resource [LoadBalancerCertificate]"
    if status != "DETECTION_IN_PROGRESS":
        stub.add_response("describe_stack_drift_detection_status", final, {"StackDriftDetectionId": DETECTION})
        for number, page in enumerate(pages):
            response = {"StackResourceDrifts": list(page)}
            params = {"StackName": STACK, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
            if number:
                params["NextToken"] = f"page-{number}"
            if number + 1 < len(pages):
                response["NextToken"] = f"page-{number + 1}"
            stub.add_response("describe_stack_resource_drifts", response, params)
    stub.activate()
    return cloudformation, stub


def detect(cloudformation, **kwargs):
    lines = []
    clock = iter(range(0, 10_000, 5))
    code = DriftDetector(cloudformation, sleep=lambda _: None, clock=lambda: next(clock)).report(
        STACK, out=lines.append, **kwargs)
    return code, lines


IMAGE = ("/ContainerDefinitions/0/Image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo-fargate/echo:0a1b",
         "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo-fargate/echo:hotfix", "NOT_EQUAL")
WEIGHTS = ("/Actions/0/ForwardConfig/TargetGroups/0/Weight", "100", "0", "NOT_EQUAL")
SERVICE_TASK = ("/TaskDefinition", "arn:aws:ecs:us-east-1:123456789012:task-definition/echo-task:7",
                "arn:aws:ecs:us-east-1:123456789012:task-definition/echo-task:8", "NOT_EQUAL")


def test_no_drift_exits_0_and_says_so():
    cloudformation, stub = stubbed(drift_status="IN_SYNC")
    code, lines = detect(cloudformation)
    assert code == 0
    assert lines == [f"ok drift {STACK}: 0 drifted resource(s), 0 by design (blue/green)"]
    stub.assert_no_pending_responses()


def test_names_each_drifted_resource_and_property_and_exits_1():
    cloudformation, _ = stubbed(pages=([
        resource_drift("TaskTaskDefinition1A2B3C4D", "AWS::ECS::TaskDefinition", differences=[IMAGE]),
        resource_drift("TaskSecurityGroup9F8E", "AWS::EC2::SecurityGroup", "DELETED"),
    ],))
    code, lines = detect(cloudformation)
    assert code == 1
    assert lines == [
        "DRIFT TaskTaskDefinition1A2B3C4D (AWS::ECS::TaskDefinition) MODIFIED",
        "  /ContainerDefinitions/0/Image NOT_EQUAL: expected 123456789012.dkr.ecr.us-east-1.amazonaws.com/"
        "echo-fargate/echo:0a1b actual 123456789012.dkr.ecr.us-east-1.amazonaws.com/echo-fargate/echo:hotfix",
        "DRIFT TaskSecurityGroup9F8E (AWS::EC2::SecurityGroup) DELETED",
        f"FAIL drift {STACK}: 2 drifted resource(s), 0 by design (blue/green)",
    ]


def test_blue_green_changes_are_labelled_by_design_and_are_no_fault():
    cloudformation, _ = stubbed(pages=(
        [resource_drift("LoadBalancerProductionRule5C8A", "AWS::ElasticLoadBalancingV2::ListenerRule",
                        differences=[WEIGHTS])],
        [resource_drift("EchoServiceService6D1F", "AWS::ECS::Service", differences=[SERVICE_TASK])],
    ))
    code, lines = detect(cloudformation)
    assert code == 0
    assert lines == [
        "by design (blue/green) LoadBalancerProductionRule5C8A (AWS::ElasticLoadBalancingV2::ListenerRule) MODIFIED",
        "  /Actions/0/ForwardConfig/TargetGroups/0/Weight NOT_EQUAL: expected 100 actual 0 "
        "[by design (blue/green)]",
        "by design (blue/green) EchoServiceService6D1F (AWS::ECS::Service) MODIFIED",
        "  /TaskDefinition NOT_EQUAL: expected arn:aws:ecs:us-east-1:123456789012:task-definition/echo-task:7 "
        "actual arn:aws:ecs:us-east-1:123456789012:task-definition/echo-task:8 [by design (blue/green)]",
        f"ok drift {STACK}: 0 drifted resource(s), 2 by design (blue/green)",
    ]


def test_a_by_design_resource_with_another_change_is_a_fault():
    desired = ("/DesiredCount", "2", "0", "NOT_EQUAL")
    other_rule = ("/Actions/0/FixedResponseConfig/StatusCode", "404", "200", "NOT_EQUAL")
    cloudformation, _ = stubbed(pages=([
        resource_drift("EchoServiceService6D1F", "AWS::ECS::Service", differences=[SERVICE_TASK, desired]),
        resource_drift("LoadBalancerHideHealthCheckPath77", "AWS::ElasticLoadBalancingV2::ListenerRule",
                       differences=[other_rule]),
    ],))
    code, lines = detect(cloudformation)
    assert code == 1
    assert lines[0] == "DRIFT EchoServiceService6D1F (AWS::ECS::Service) MODIFIED"
    assert lines[2] == "  /DesiredCount NOT_EQUAL: expected 2 actual 0"
    assert lines[3] == "DRIFT LoadBalancerHideHealthCheckPath77 (AWS::ElasticLoadBalancingV2::ListenerRule) MODIFIED"
    assert lines[-1] == f"FAIL drift {STACK}: 2 drifted resource(s), 0 by design (blue/green)"


def test_long_values_are_shortened():
    definition = json.dumps({"ContainerDefinitions": [{"Name": "echo", "Environment": ["x"] * 80}]})
    cloudformation, _ = stubbed(pages=([resource_drift("TaskTaskDefinition1A2B3C4D", "AWS::ECS::TaskDefinition",
                                                       differences=[("/ContainerDefinitions", definition, "[]",
                                                                     "NOT_EQUAL")])],))
    _, lines = detect(cloudformation)
    assert lines[1] == f"  /ContainerDefinitions NOT_EQUAL: expected {definition[:100]}... ({len(definition)} chars)" \
                       " actual []"


def test_waits_for_the_detection_and_gives_up_at_the_deadline():
    cloudformation, stub = stubbed(in_progress=2)
    assert detect(cloudformation, deadline=60)[0] == 0
    stub.assert_no_pending_responses()  # read the status three times

    cloudformation, _ = stubbed(status="DETECTION_IN_PROGRESS", in_progress=3)
    code, lines = detect(cloudformation, deadline=10, interval=5)
    assert code == 1
    assert lines == [f"FAIL drift: detection {DETECTION} still running after 10 s; run it again later"]


def test_failed_detection_never_claims_no_drift():
    cloudformation, _ = stubbed(status="DETECTION_FAILED", drift_status="IN_SYNC")
    code, lines = detect(cloudformation)
    assert code == 1
    assert lines == [f"FAIL drift {STACK}: 0 drifted resource(s), 0 by design (blue/green); detection incomplete: "
                     "Failed to detect drift on resource [LoadBalancerCertificate]"]


def test_an_emulator_without_drift_detection_is_a_skip():
    cloudformation = client()
    stub = Stubber(cloudformation)
    stub.add_client_error("detect_stack_drift", service_error_code="InternalFailure", http_status_code=501,
                          service_message="API action 'DetectStackDrift' for service 'cloudformation' not yet "
                                          "implemented")
    stub.activate()
    code, lines = detect(cloudformation)
    assert code == 0
    assert lines == ["skip drift: the local AWS does not implement drift detection (DetectStackDrift: "
                     "InternalFailure: API action 'DetectStackDrift' for service 'cloudformation' not yet "
                     "implemented)"]


def test_other_errors_of_aws_are_reported_not_skipped():
    cloudformation = client()
    stub = Stubber(cloudformation)
    stub.add_client_error("detect_stack_drift", service_error_code="AccessDenied", http_status_code=403,
                          service_message="not authorized to perform: cloudformation:DetectStackDrift")
    stub.activate()
    with pytest.raises(Exception, match="AccessDenied"):
        detect(cloudformation)


@pytest.fixture(scope="module")
def local_aws():
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_against_the_local_aws_the_command_skips(local_aws, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    boto3.client("cloudformation", region_name="us-east-1", endpoint_url=local_aws).create_stack(
        StackName=STACK, TemplateBody=json.dumps(template))
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws)  # as make local's LOCAL_AWS sets it, no --endpoint-url
    code = drift.main(["--env", "dev", "--region", "us-east-1"])
    out = capsys.readouterr().out
    assert code == 0
    assert out == ("skip drift: the local AWS does not implement drift detection (HTTP 500 from the emulator for "
                   "DetectStackDrift)\n")


def test_a_stack_that_is_not_there_is_one_line(local_aws, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code = drift.main(["--env", "qa", "--region", "us-east-1", "--endpoint-url", local_aws])
    assert code == 1
    assert capsys.readouterr().err == "drift: stack echo-fargate-qa not found in us-east-1\n"
