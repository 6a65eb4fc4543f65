"""A changed secret redeploys the service: EventBridge rules that match exactly the service's parameters and
secrets, a state machine that may only force a new deployment of that service, a dead-letter queue, alarms.

One app, synthesized once with cdk-nag's AwsSolutions checks, holds three bare stacks (VPC, cluster, one
Fargate service): every kind of source with an alarm topic; parameters only; secrets only. The event patterns
are evaluated with moto's implementation of EventBridge pattern matching, on events shaped as AWS documents
them (Systems Manager User Guide, "Amazon EventBridge event examples"; Secrets Manager User Guide, "Secret
Label Updated event").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import Construct
from moto.events.models import EventPattern

from settings.app_config import SecretSource, parse_source
from stacks.compliance import acknowledge
from stacks.secret_redeploy import SecretChangeRedeploy
from tests.synth import CDK_CONTEXT

ACCOUNT, REGION = "123456789012", "us-east-1"
SECRETS = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
PARTIAL = f"{SECRETS}db"  # the secret named "db", given without its random suffix
COMPLETE = f"{SECRETS}token-AbCdEf"  # the secret named "token", suffix included
ELSEWHERE = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:shared"
REDEPLOY_ID = "Redeploy"
FEATURE_FLAGS = {key: value for key, value in CDK_CONTEXT.items() if key.startswith("@aws-cdk")}


@dataclass(frozen=True)
class Probe:
    stack: cdk.Stack
    cluster: ecs.Cluster
    service: ecs.FargateService
    topic: sns.Topic | None
    redeploy: SecretChangeRedeploy


@dataclass(frozen=True)
class Synthesized:
    probes: dict[str, Probe]
    templates: dict[str, Template]
    report: dict  # the validation report, cdk-nag's findings in it
    metadata: dict[str, dict]  # each stack's construct metadata (annotations among them)

    def warnings(self, stack: str) -> list[str]:
        return [str(entry["data"]) for entries in self.metadata[stack].values() for entry in entries
                if entry["type"] == "aws:cdk:warning"]

    def resource(self, stack: str, construct: Construct) -> dict:
        return self.templates[stack].to_json()["Resources"][logical_id(construct)]

    def rule_patterns(self, stack: str) -> dict[str, dict]:
        """Each rule's id and its event pattern, with the template's partition resolved ("aws")."""
        return {rule.node.id: _resolve(self.resource(stack, rule)["Properties"]["EventPattern"])
                for rule in self.probes[stack].redeploy.rules}

    def matching_rules(self, stack: str, event: dict) -> list[str]:
        return [rule_id for rule_id, pattern in self.rule_patterns(stack).items()
                if EventPattern.load(json.dumps(pattern)).matches_event(event)]

    def policies(self, stack: str) -> dict[str, dict]:
        """The IAM and SQS resource policies of the redeploy construct, by logical id."""
        return {key: r["Properties"] for key, r in self.templates[stack].to_json()["Resources"].items()
                if r["Type"] in ("AWS::IAM::Policy", "AWS::SQS::QueuePolicy") and key.startswith(REDEPLOY_ID)}


def logical_id(construct: Construct) -> str:
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)


def _resolve(value):
    """The template's value with Fn::Join flattened and AWS::Partition as "aws": what EventBridge would see."""
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": "AWS::Partition"}:
            return "aws"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(_resolve(part) for part in parts)
        return {key: _resolve(v) for key, v in value.items()}
    return value


def _probe(app: cdk.App, name: str, sources: list[str], *, with_topic: bool) -> Probe:
    """The least a SecretChangeRedeploy needs; its cdk-nag findings are the fixture's, not the construct's."""
    stack = cdk.Stack(app, name, env=cdk.Environment(account=ACCOUNT, region=REGION))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, restrict_default_security_group=False,
                  subnet_configuration=[ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)])
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(stack, "Task", cpu=256, memory_limit_mib=512)
    task.add_container("echo", image=ecs.ContainerImage.from_registry("nginx:stable"))
    service = ecs.FargateService(stack, "Service", cluster=cluster, task_definition=task, assign_public_ip=True,
                                 vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
                                 min_healthy_percent=100)
    for construct, rule in ((vpc, "VPC7"), (cluster, "ECS4"), (task, "ECS7")):
        acknowledge(construct, rule, "The bare test fixture around SecretChangeRedeploy, not what this module tests.")
    topic = sns.Topic(stack, "Topic", enforce_ssl=True) if with_topic else None
    redeploy = SecretChangeRedeploy(stack, REDEPLOY_ID, sources=[parse_source(s) for s in sources],
                                    service=service, alarm_topic=topic)
    return Probe(stack=stack, cluster=cluster, service=service, topic=topic, redeploy=redeploy)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synthesized:
    outdir: Path = tmp_path_factory.mktemp("cdk.out-secret-redeploy")
    app = cdk.App(context=FEATURE_FLAGS, outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    probes = {
        # Two variables read two keys of "db": one source, matched once.
        "Probe": _probe(app, "Probe", ["/echo/api-token", "plain-name", f"{PARTIAL}:password", f"{PARTIAL}:user",
                                       COMPLETE], with_topic=True),
        "Parameters": _probe(app, "Parameters", ["/echo/api-token"], with_topic=False),
        "Secrets": _probe(app, "Secrets", [COMPLETE, ELSEWHERE], with_topic=True),
    }
    try:
        app.synth()
    except RuntimeError as error:
        # An unacknowledged finding fails the synth after the templates and the report are written; the
        # cdk-nag test below then names it, and the other tests still run.
        if "ValidationFailed" not in str(error):
            raise
    templates = {name: Template.from_json(json.loads((outdir / f"{name}.template.json").read_text()))
                 for name in probes}
    manifest = json.loads((outdir / "manifest.json").read_text())
    return Synthesized(probes=probes, templates=templates,
                       report=json.loads((outdir / "validation-report.json").read_text()),
                       metadata={name: json.loads((outdir / artifact["additionalMetadataFile"]).read_text())
                                 for name, artifact in manifest["artifacts"].items() if name in probes})


def _parameter_event(name: str, operation: str = "Update", *, account: str = ACCOUNT, **detail) -> dict:
    return {
        "version": "0", "id": "6a7e4feb-b491-4cf7-a9f1-bf3703497718", "detail-type": "Parameter Store Change",
        "source": "aws.ssm", "account": account, "time": "2026-12-01T16:43:48Z", "region": REGION,
        "resources": [f"arn:aws:ssm:{REGION}:{account}:parameter/{name.lstrip('/')}"],
        "detail": {"operation": operation, "name": name, "type": "SecureString", **detail},
    }


def _secret_event(arn: str, label: str = "AWSCURRENT") -> dict:
    name = arn.split(":", 6)[6]
    if name[-7] == "-":  # a complete ARN: the friendly name is without the random suffix
        name = name[:-7]
    return {
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Secret Label Updated",
        "source": "aws.secretsmanager", "account": arn.split(":")[4], "time": "2026-12-01T16:43:48Z",
        "region": arn.split(":")[3], "resources": [arn],
        "detail": {"name": name, "labelUpdated": label, "versionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"},
    }


# --- the event patterns -------------------------------------------------------------------------------------


def test_one_rule_per_kind_and_form_of_source_each_on_the_default_bus(synth):
    assert set(synth.rule_patterns("Probe")) == {"ParameterChanged", "SecretChanged", "NamedSecretChanged"}
    for rule in synth.probes["Probe"].redeploy.rules:
        assert "EventBusName" not in synth.resource("Probe", rule)["Properties"]


def test_no_rule_for_a_kind_without_sources(synth):
    assert set(synth.rule_patterns("Parameters")) == {"ParameterChanged"}
    assert set(synth.rule_patterns("Secrets")) == {"SecretChanged", "NamedSecretChanged"}


def test_the_parameter_rule_names_exactly_the_parameters(synth):
    pattern = synth.rule_patterns("Probe")["ParameterChanged"]
    assert pattern == {
        "source": ["aws.ssm"],
        "detail-type": ["Parameter Store Change"],
        # A hierarchical name and a plain one: "parameter/" and the name without its leading "/".
        "resources": [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/echo/api-token",
                      f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/plain-name"],
        "detail": {"name": ["/echo/api-token", "plain-name"], "operation": ["Create", "Update"],
                   "exception": [{"exists": False}]},
    }
    assert synth.rule_patterns("Parameters")["ParameterChanged"]["detail"]["name"] == ["/echo/api-token"]


@pytest.mark.parametrize("event, redeploys", [
    (_parameter_event("/echo/api-token"), True),
    (_parameter_event("plain-name", "Create"), True),
    # Deleted: a task could not start without it. A label: the task reads the latest version, not a label.
    (_parameter_event("/echo/api-token", "Delete"), False),
    (_parameter_event("/echo/api-token", "LabelParameterVersion"), False),
    (_parameter_event("/echo/api-token", "Create", exception="Unable to Describe Resource"), False),
    # Names that merely start or end like ours, the other spelling of a name, another account's parameter.
    (_parameter_event("/echo/api-token-old"), False),
    (_parameter_event("/echo/api-token/child"), False),
    (_parameter_event("/echo"), False),
    (_parameter_event("plain-name-2"), False),
    (_parameter_event("/plain-name"), False),
    (_parameter_event("/echo/api-token", account="210987654321"), False),
], ids=lambda value: "" if isinstance(value, bool) else f"{value['detail']['name']}:{value['detail']['operation']}")
def test_only_a_change_of_one_of_the_parameters_redeploys(synth, event, redeploys):
    assert synth.matching_rules("Probe", event) == (["ParameterChanged"] if redeploys else [])


def test_the_secret_rules_name_the_complete_arn_and_the_partial_arns_name(synth):
    patterns = synth.rule_patterns("Probe")
    common = {"source": ["aws.secretsmanager"], "detail-type": ["Secret Label Updated"]}
    assert patterns["SecretChanged"] == {**common, "resources": [COMPLETE], "detail": {"labelUpdated": ["AWSCURRENT"]}}
    # Deduplicated: "db" is read for two variables (two JSON keys) and listed once.
    assert patterns["NamedSecretChanged"] == {**common, "resources": [{"prefix": f"{PARTIAL}-"}],
                                              "detail": {"labelUpdated": ["AWSCURRENT"], "name": ["db"]}}


@pytest.mark.parametrize("arn, label, rule", [
    (COMPLETE, "AWSCURRENT", "SecretChanged"),
    (f"{PARTIAL}-AbCdEf", "AWSCURRENT", "NamedSecretChanged"),
    (f"{PARTIAL}-ZyXwVu", "AWSCURRENT", "NamedSecretChanged"),  # "db" deleted and created again: still "db"
    # Only AWSCURRENT is what ECS reads; a custom label moving changes nothing the task sees.
    (COMPLETE, "STAGING", None),
    (f"{PARTIAL}-AbCdEf", "STAGING", None),
    # "db-prod" starts with "db-", and its six random characters follow "db-prod-": not "db".
    (f"{SECRETS}db-prod-AbCdEf", "AWSCURRENT", None),
    (f"{SECRETS}db-AbCdEf-AbCdEf", "AWSCURRENT", None),
    (f"{SECRETS}dbx-AbCdEf", "AWSCURRENT", None),
    # "token" created again has another suffix: not the secret the task names.
    (f"{SECRETS}token-ZyXwVu", "AWSCURRENT", None),
    (f"{SECRETS}token-AbCdEf-AbCdEf", "AWSCURRENT", None),
    ("arn:aws:secretsmanager:us-east-1:210987654321:secret:db-AbCdEf", "AWSCURRENT", None),
    ("arn:aws:secretsmanager:us-west-2:123456789012:secret:db-AbCdEf", "AWSCURRENT", None),
])
def test_only_a_new_current_value_of_one_of_the_secrets_redeploys(synth, arn, label, rule):
    assert synth.matching_rules("Probe", _secret_event(arn, label)) == ([rule] if rule else [])


def test_db_and_db_prod_are_told_apart_by_the_pattern_itself(synth):
    # The case a prefix or wildcard alone gets wrong: "db" without suffix vs a secret named "db-prod".
    pattern = EventPattern.load(json.dumps(synth.rule_patterns("Probe")["NamedSecretChanged"]))
    assert pattern.matches_event(_secret_event(f"{SECRETS}db-AbCdEf"))
    assert not pattern.matches_event(_secret_event(f"{SECRETS}db-prod-AbCdEf"))


def test_a_secret_in_another_account_or_region_is_named_with_a_warning(synth):
    pattern = synth.rule_patterns("Secrets")["NamedSecretChanged"]
    assert pattern["resources"] == [{"prefix": f"{ELSEWHERE}-"}]
    assert [w for w in synth.warnings("Secrets") if ELSEWHERE in w and "do not reach" in w]
    assert not [w for w in synth.warnings("Probe") if "do not reach" in w]


def test_the_sources_kinds_come_from_the_settings_parser():
    # The construct relies on these forms; settings/app_config.py is their one definition.
    assert parse_source(COMPLETE) == SecretSource("secretsmanager", COMPLETE, None, True)
    assert parse_source(f"{PARTIAL}:password") == SecretSource("secretsmanager", PARTIAL, "password", False)
    assert parse_source("plain-name") == SecretSource("ssm", "plain-name")


# --- the state machine and the permissions ------------------------------------------------------------------


def test_the_state_machine_only_forces_a_new_deployment_of_this_service(synth):
    probe = synth.probes["Probe"]
    machine = synth.resource("Probe", probe.redeploy.state_machine)["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    parts = machine["DefinitionString"]["Fn::Join"][1]
    cluster, service = logical_id(probe.cluster), logical_id(probe.service)
    rendered = "".join(part if isinstance(part, str) else {
        json.dumps({"Ref": "AWS::Partition"}): "aws",
        json.dumps({"Fn::GetAtt": [cluster, "Arn"]}): "CLUSTER_ARN",
        json.dumps({"Fn::GetAtt": [service, "Name"]}): "SERVICE_NAME",
    }[json.dumps(part)] for part in parts)
    definition = json.loads(rendered)
    (state,) = definition["States"].values()
    assert state["Type"] == "Task" and state.get("End") is True
    assert state["Resource"] == "arn:aws:states:::aws-sdk:ecs:updateService"
    assert state["Parameters"] == {"Cluster": "CLUSTER_ARN", "Service": "SERVICE_NAME", "ForceNewDeployment": True}
    # Throttling and ECS's 5xx are task failures of the SDK integration: retried with backoff.
    (retry,) = state["Retry"]
    assert retry["ErrorEquals"] == ["States.TaskFailed"]
    assert retry["MaxAttempts"] >= 3 and retry["BackoffRate"] > 1


def test_the_state_machine_role_may_only_update_this_service(synth):
    probe = synth.probes["Probe"]
    role = logical_id(probe.redeploy.state_machine.role)
    policies = [p for p in synth.policies("Probe").values() if p.get("Roles") == [{"Ref": role}]]
    (policy,) = policies
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "ecs:UpdateService", "Effect": "Allow", "Resource": {"Ref": logical_id(probe.service)}}]
    properties = synth.resource("Probe", probe.redeploy.state_machine.role)["Properties"]
    assert "ManagedPolicyArns" not in properties and "Policies" not in properties
    # No logging or tracing configuration, which would bring logs:* and xray:* on "*".
    machine = synth.resource("Probe", probe.redeploy.state_machine)["Properties"]
    assert "LoggingConfiguration" not in machine and "TracingConfiguration" not in machine


def test_eventbridge_may_only_start_this_state_machine(synth):
    probe = synth.probes["Probe"]
    machine = {"Ref": logical_id(probe.redeploy.state_machine)}
    roles = set()
    for rule in probe.redeploy.rules:
        (target,) = synth.resource("Probe", rule)["Properties"]["Targets"]
        assert target["Arn"] == machine
        roles.add(target["RoleArn"]["Fn::GetAtt"][0])
    (role,) = roles  # one role for every rule
    (policy,) = [p for p in synth.policies("Probe").values() if p.get("Roles") == [{"Ref": role}]]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine}]
    trust = synth.templates["Probe"].to_json()["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "events.amazonaws.com"}]


def test_no_statement_stands_on_every_resource(synth):
    for stack in synth.probes:
        policies = synth.policies(stack)
        assert policies
        for name, policy in policies.items():
            for statement in policy["PolicyDocument"]["Statement"]:
                resource = statement["Resource"]
                assert "*" not in (resource if isinstance(resource, list) else [resource]), name


# --- the target, the dead-letter queue, the alarms ----------------------------------------------------------


def test_each_target_retries_then_keeps_the_event_in_the_dead_letter_queue(synth):
    probe = synth.probes["Probe"]
    queue = logical_id(probe.redeploy.dead_letter_queue)
    for rule in probe.redeploy.rules:
        (target,) = synth.resource("Probe", rule)["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600


def test_the_dead_letter_queue_is_encrypted_tls_only_and_keeps_messages_14_days(synth):
    queue = synth.resource("Probe", synth.probes["Probe"].redeploy.dead_letter_queue)["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = [p for p in synth.policies("Probe").values() if "Queues" in p]
    statements = policy["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_the_redeploy_rules_may_send_to_the_dead_letter_queue(synth):
    probe = synth.probes["Probe"]
    (policy,) = [p for p in synth.policies("Probe").values() if "Queues" in p]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in allows} == {
        json.dumps({"Fn::GetAtt": [logical_id(rule), "Arn"]}) for rule in probe.redeploy.rules}
    for statement in allows:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"


def test_a_failed_redeploy_and_an_undelivered_event_alarm_on_the_topic(synth):
    probe = synth.probes["Probe"]
    topic = {"Ref": logical_id(probe.topic)}
    assert set(probe.redeploy.alarms) == {"redeploy_failed", "events_undelivered"}
    for alarm in probe.redeploy.alarms.values():
        properties = synth.resource("Probe", alarm)["Properties"]
        assert properties["AlarmActions"] == [topic] and properties["OKActions"] == [topic]
        assert properties["TreatMissingData"] == "notBreaching"
        assert properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    failed = synth.resource("Probe", probe.redeploy.alarms["redeploy_failed"])["Properties"]
    machine = {"Ref": logical_id(probe.redeploy.state_machine)}
    stats = [m["MetricStat"] for m in failed["Metrics"] if "MetricStat" in m]
    assert {s["Metric"]["MetricName"] for s in stats} == {"ExecutionsFailed", "ExecutionsTimedOut",
                                                          "ExecutionsAborted"}
    assert all(s["Metric"]["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine}] for s in stats)
    undelivered = synth.resource("Probe", probe.redeploy.alarms["events_undelivered"])["Properties"]
    assert undelivered["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert undelivered["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [logical_id(probe.redeploy.dead_letter_queue), "QueueName"]}


def test_without_a_topic_the_alarms_notify_nobody(synth):
    for alarm in synth.probes["Parameters"].redeploy.alarms.values():
        properties = synth.resource("Parameters", alarm)["Properties"]
        assert "AlarmActions" not in properties and "OKActions" not in properties


# --- cdk-nag ------------------------------------------------------------------------------------------------


def test_cdk_nag_finds_nothing_unacknowledged_in_the_construct(synth):
    (report,) = [r for r in synth.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    mine = [f"{name}/{REDEPLOY_ID}/" for name in synth.probes]
    assert [v["ruleName"] for v in report["violations"]
            if any(c["constructPath"].startswith(tuple(mine)) for c in v["violatingConstructs"])] == []
    assert report["violations"] == []  # the fixture's own findings are acknowledged, so none at all
    # Acknowledged: only logging/tracing of the state machine and the DLQ having no DLQ, each with a reason,
    # each on the resource it concerns.
    acknowledged = {}
    for finding in report["suppressedViolations"]:
        for construct in finding["violatingConstructs"]:
            if construct["constructPath"].startswith(tuple(mine)):
                assert len(finding["reason"]) > 40
                assert construct["constructPath"].startswith(finding["acknowledgedAt"] + "/")
                acknowledged.setdefault(finding["ruleName"], set()).add(
                    construct["constructPath"].split("/", 1)[1])
    assert acknowledged == {
        "AwsSolutions-SF1": {f"{REDEPLOY_ID}/StateMachine/Resource"},
        "AwsSolutions-SF2": {f"{REDEPLOY_ID}/StateMachine/Resource"},
        "AwsSolutions-SQS3": {f"{REDEPLOY_ID}/DeadLetterQueue/Resource"},
    }
