"""Service monitoring: an encrypted, TLS-only alarm topic, six alarms that notify it, and a dashboard.

A bare stack (VPC, cluster, one nginx Fargate service behind an ALB) synthesizes once, with cdk-nag's
AwsSolutions checks and the caller's wiring of the deployment alarms into the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.monitoring import ServiceMonitoring
from tests.synth import CDK_CONTEXT

EMAIL = "oncall@example.com"
MONITORING_ID = "Monitoring"
P99_SECONDS = 0.75
CLOUDWATCH = "cloudwatch.amazonaws.com"
FEATURE_FLAGS = {key: value for key, value in CDK_CONTEXT.items() if key.startswith("@aws-cdk")}


@dataclass(frozen=True)
class Probe:
    """The constructs the monitoring is given, and the monitoring itself."""

    cluster: ecs.Cluster
    service: ecs.FargateService
    load_balancer: elbv2.ApplicationLoadBalancer
    target_group: elbv2.ApplicationTargetGroup
    monitoring: ServiceMonitoring


@dataclass(frozen=True)
class Synthesized:
    probe: Probe
    template: Template
    silent: Template  # the same stack with alarm_email=None
    report: dict  # the validation report, cdk-nag's findings in it

    @property
    def monitoring(self) -> ServiceMonitoring:
        return self.probe.monitoring

    def alarm(self, name: str) -> dict:
        alarm = self.monitoring.alarms[name]
        return self.template.find_resources("AWS::CloudWatch::Alarm")[logical_id(alarm)]["Properties"]


def logical_id(construct: Construct) -> str:
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)


def _probe(stack: cdk.Stack, alarm_email: str | None) -> Probe:
    """The least a ServiceMonitoring needs; its cdk-nag findings are the fixture's, not the construct's."""
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, restrict_default_security_group=False,
                  subnet_configuration=[ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)])
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(stack, "Task", cpu=256, memory_limit_mib=512)
    task.add_container("nginx", image=ecs.ContainerImage.from_registry("nginx:stable"),
                       port_mappings=[ecs.PortMapping(container_port=80)])
    service = ecs.FargateService(stack, "Service", cluster=cluster, task_definition=task, assign_public_ip=True,
                                 vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
                                 min_healthy_percent=100,
                                 circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True))
    load_balancer = elbv2.ApplicationLoadBalancer(stack, "LoadBalancer", vpc=vpc, internet_facing=True)
    target_group = elbv2.ApplicationTargetGroup(stack, "TargetGroup", vpc=vpc, port=80,
                                                target_type=elbv2.TargetType.IP, targets=[service])
    load_balancer.add_listener("Http", port=80, default_target_groups=[target_group])
    for construct, rule in ((vpc, "VPC7"), (cluster, "ECS4"), (task, "ECS7"), (load_balancer, "ELB2"),
                            (load_balancer, "EC23")):
        acknowledge(construct, rule, "The bare test fixture around ServiceMonitoring, not what this module tests.")
    monitoring = ServiceMonitoring(stack, MONITORING_ID, service=service, load_balancer=load_balancer,
                                   target_group=target_group, alarm_email=alarm_email,
                                   p99_latency_seconds=P99_SECONDS)
    return Probe(cluster=cluster, service=service, load_balancer=load_balancer, target_group=target_group,
                 monitoring=monitoring)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synthesized:
    outdir: Path = tmp_path_factory.mktemp("cdk.out-monitoring")
    app = cdk.App(context=FEATURE_FLAGS, outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    probe = _probe(cdk.Stack(app, "Probe"), EMAIL)
    # What the caller does: a release that trips a deployment alarm is rolled back.
    config = probe.monitoring.deployment_alarm_config()
    probe.service.enable_deployment_alarms(config.alarm_names, behavior=config.behavior)
    _probe(cdk.Stack(app, "Silent"), None)
    try:
        app.synth()
    except RuntimeError as error:
        # An unacknowledged finding fails the synth after the templates and the report are written; the
        # cdk-nag test below then names it, and the other tests still run.
        if "ValidationFailed" not in str(error):
            raise
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in ("Probe", "Silent")}
    return Synthesized(probe=probe, template=Template.from_json(templates["Probe"]),
                       silent=Template.from_json(templates["Silent"]),
                       report=json.loads((outdir / "validation-report.json").read_text()))


def test_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(synth):
    (topic,) = synth.template.find_resources("AWS::SNS::Topic").values()
    (key_id,) = synth.template.find_resources("AWS::KMS::Key")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = synth.template.find_resources("AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    # The reason for a customer managed key: alias/aws/sns's policy does not let CloudWatch encrypt.
    (statement,) = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": CLOUDWATCH}]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Effect"] == "Allow"


def test_only_this_accounts_alarms_may_use_the_key(synth):
    (key,) = synth.template.find_resources("AWS::KMS::Key").values()
    (statement,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": CLOUDWATCH}]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":cloudwatch:" in source and "AWS::AccountId" in source and ":alarm:*" in source


def test_a_deleted_key_can_be_recovered_for_30_days(synth):
    (key,) = synth.template.find_resources("AWS::KMS::Key").values()
    assert key["Properties"]["PendingWindowInDays"] == 30


def test_topic_refuses_publishing_without_tls_and_lets_this_accounts_alarms_publish(synth):
    (policy,) = synth.template.find_resources("AWS::SNS::TopicPolicy").values()
    topic_ref = {"Ref": logical_id(synth.monitoring.topic)}
    assert policy["Properties"]["Topics"] == [topic_ref]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert (deny["Principal"], deny["Action"], deny["Resource"]) == ("*", "sns:Publish", topic_ref)
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert (allow["Principal"], allow["Action"], allow["Resource"]) == ({"Service": CLOUDWATCH}, "sns:Publish",
                                                                       topic_ref)
    source = json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":cloudwatch:" in source and "AWS::AccountId" in source and ":alarm:*" in source
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_email_subscription_only_with_an_alarm_email(synth):
    (subscription,) = synth.template.find_resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {"Protocol": "email", "Endpoint": EMAIL,
                                          "TopicArn": {"Ref": logical_id(synth.monitoring.topic)}}
    synth.silent.resource_count_is("AWS::SNS::Subscription", 0)
    synth.silent.resource_count_is("AWS::SNS::Topic", 1)
    synth.silent.resource_count_is("AWS::CloudWatch::Alarm", 6)


# name -> namespace, metric, statistic, threshold, operator, evaluation periods, datapoints to alarm, missing data
EXPECTED_ALARMS = {
    "load_balancer_5xx": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", 5,
                          "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "target_5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", 5,
                   "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "unhealthy_hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum", 1,
                        "GreaterThanOrEqualToThreshold", 2, 2, "notBreaching"),
    "p99_latency": ("AWS/ApplicationELB", "TargetResponseTime", "p99", P99_SECONDS,
                    "GreaterThanThreshold", 3, 3, "notBreaching"),
    "cpu": ("AWS/ECS", "CPUUtilization", "Average", 85, "GreaterThanThreshold", 5, 5, "missing"),
    "memory": ("AWS/ECS", "MemoryUtilization", "Average", 85, "GreaterThanThreshold", 5, 5, "missing"),
}


def test_exactly_the_six_alarms(synth):
    assert set(synth.monitoring.alarms) == set(EXPECTED_ALARMS)
    synth.template.resource_count_is("AWS::CloudWatch::Alarm", 6)


@pytest.mark.parametrize("name", EXPECTED_ALARMS)
def test_alarm_watches_its_metric_with_its_threshold(synth, name):
    alarm = synth.alarm(name)
    statistic = alarm.get("Statistic") or alarm["ExtendedStatistic"]
    assert (alarm["Namespace"], alarm["MetricName"], statistic, alarm["Threshold"], alarm["ComparisonOperator"],
            alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == EXPECTED_ALARMS[name]
    assert alarm["Period"] == 60
    assert len(alarm["AlarmDescription"]) > 80  # says what to look at, not just what went off
    assert "AlarmName" not in alarm  # generated


@pytest.mark.parametrize("name", EXPECTED_ALARMS)
def test_alarm_notifies_the_topic_when_it_goes_off_and_when_it_clears(synth, name):
    alarm = synth.alarm(name)
    topic_ref = {"Ref": logical_id(synth.monitoring.topic)}
    assert alarm["AlarmActions"] == [topic_ref]
    assert alarm["OKActions"] == [topic_ref]


def test_alarms_watch_this_service_and_this_target_group(synth):
    probe = synth.probe
    target_group = {"Fn::GetAtt": [logical_id(probe.target_group), "TargetGroupFullName"]}
    for name in ("target_5xx", "unhealthy_hosts", "p99_latency"):
        dimensions = {d["Name"]: d["Value"] for d in synth.alarm(name)["Dimensions"]}
        assert dimensions["TargetGroup"] == target_group, name
    assert synth.alarm("load_balancer_5xx")["Dimensions"] == [
        {"Name": "LoadBalancer", "Value": {"Fn::GetAtt": [logical_id(probe.load_balancer), "LoadBalancerFullName"]}}]
    for name in ("cpu", "memory"):
        dimensions = {d["Name"]: d["Value"] for d in synth.alarm(name)["Dimensions"]}
        assert dimensions == {"ClusterName": {"Ref": logical_id(probe.cluster)},
                              "ServiceName": {"Fn::GetAtt": [logical_id(probe.service), "Name"]}}


def test_p99_keeps_its_state_on_too_few_requests(synth):
    assert synth.alarm("p99_latency")["EvaluateLowSampleCountPercentile"] == "ignore"


def test_deployment_alarms_are_the_three_that_mean_a_bad_release(synth):
    alarms = synth.monitoring.alarms
    assert synth.monitoring.deployment_alarms == [alarms["target_5xx"], alarms["unhealthy_hosts"],
                                                  alarms["p99_latency"]]
    config = synth.monitoring.deployment_alarm_config()
    assert config.behavior == ecs.AlarmBehavior.ROLLBACK_ON_ALARM
    assert len(config.alarm_names) == 3


def test_the_service_rolls_back_on_the_deployment_alarms_by_name(synth):
    (service,) = synth.template.find_resources("AWS::ECS::Service").values()
    names = [{"Ref": logical_id(alarm)} for alarm in synth.monitoring.deployment_alarms]
    assert service["Properties"]["DeploymentConfiguration"]["Alarms"] == {
        "AlarmNames": names, "Enable": True, "Rollback": True}


def _references(value) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def test_wiring_the_deployment_alarms_into_the_service_makes_no_cycle(synth):
    resources = synth.template.to_json()["Resources"]
    graph = {logical_id: (_references(resource) | set(resource.get("DependsOn", []))) & resources.keys()
             for logical_id, resource in resources.items()}
    service = logical_id(synth.probe.service)
    reachable, stack = set(), [service]
    while stack:
        for child in graph[stack.pop()] - reachable:
            reachable.add(child)
            stack.append(child)
    assert service not in reachable
    # ...while the service does depend on its deployment alarms, and the CPU alarm on the service.
    assert {logical_id(alarm) for alarm in synth.monitoring.deployment_alarms} <= reachable
    assert service in graph[logical_id(synth.monitoring.alarms["cpu"])]


def test_dashboard_graphs_every_signal_and_the_alarm_states(synth):
    (dashboard,) = synth.template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert "DashboardName" not in dashboard["Properties"]  # generated
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("RequestCount", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "TargetResponseTime",
                   "HealthyHostCount", "UnHealthyHostCount", "CPUUtilization", "MemoryUtilization"):
        assert metric in body, metric
    for title in ("Requests and 5xx", "Response time", "Targets", "CPU and memory", "Alarms"):
        assert f'\\"title\\":\\"{title}\\"' in body, title
    assert '\\"stat\\":\\"p50\\"' in body and '\\"stat\\":\\"p99\\"' in body
    assert '\\"type\\":\\"alarm\\"' in body
    for alarm in synth.monitoring.alarms.values():
        assert logical_id(alarm) in body


def test_cdk_nag_finds_nothing_in_the_monitoring_construct(synth):
    (report,) = [r for r in synth.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    mine = f"/{MONITORING_ID}/"
    findings = [c["constructPath"] for v in report["violations"] for c in v["violatingConstructs"]]
    assert [path for path in findings if mine in path] == []
    # Nothing acknowledged here either; the fixture's own acknowledgements show the checks did run.
    acknowledged = [c["constructPath"] for v in report["suppressedViolations"] for c in v["violatingConstructs"]]
    assert acknowledged
    assert [path for path in acknowledged if mine in path] == []
