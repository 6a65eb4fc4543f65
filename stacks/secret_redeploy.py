"""A new ECS deployment whenever one of the service's secrets changes.

ECS reads a container's `Secrets` only when a task starts, so a changed value reaches the service only with new
tasks (copilot-cli #3271, #3714). EventBridge rules on the default bus match the change events of exactly the
service's parameters and secrets and start a Step Functions state machine whose one task is ECS UpdateService
with ForceNewDeployment.

Both events are ones the services publish to EventBridge themselves, so no CloudTrail trail is needed:
- SSM Parameter Store: `Parameter Store Change` (EventBridge Events Reference, "Amazon EC2 Systems Manager
  events": sent "directly to EventBridge").
- Secrets Manager: `Secret Label Updated`, sent when a staging label other than AWSPENDING/AWSPREVIOUS moves to
  a new version (Secrets Manager User Guide, "Secret event notifications"; "Match AWS Secrets Manager events
  with Amazon EventBridge": native events "don't require CloudTrail"). AWSCURRENT moving is exactly "the value
  ECS reads changed": PutSecretValue, UpdateSecret with a value, the end of a rotation, a rollback by
  UpdateSecretVersionStage. The CloudTrail alternative (`AWS API Call via CloudTrail`, PutSecretValue ...) is
  not used: the EventBridge User Guide ("Events from AWS services") says that receiving it needs "a CloudTrail
  trail with logging enabled", its secretId is whatever form the caller typed, and RotateSecret is the *start*
  of a rotation, before the new value is current.

Events are delivered on a best-effort basis. A failed UpdateService (after retries) or an event EventBridge
could not hand to the state machine (then in the dead-letter queue) sets off an alarm.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from settings.app_config import SecretSource
from stacks.compliance import acknowledge, acknowledge_control

# Parameter Store operations after which a new task reads a different value. Not Delete: a task could not
# start without the parameter, so a deployment then would only fail. Not LabelParameterVersion: the task
# reads the latest version by name, never by label.
SSM_OPERATIONS = ["Create", "Update"]
# ECS reads a secret's AWSCURRENT version (the task names no version or stage).
CURRENT = "AWSCURRENT"
# EventBridge retries starting the state machine for this long, then puts the event in the dead-letter queue:
# a change that waits longer than that for its deployment deserves a person's attention.
EVENT_RETRIES, EVENT_MAX_AGE = 10, Duration.hours(2)
DLQ_RETENTION = Duration.days(14)  # SQS's longest: time to notice the alarm and replay the event
# Any failed UpdateService is retried with backoff: the SDK integration reports "Ecs." and the exception's name
# (Ecs.ServerException for ECS's 5xx), and which name throttling gets is not documented, so rather than list
# guesses every task failure is retried: ~1 + 2 + 4 + 8 + 16 minutes at most before the execution fails.
# A lasting error (a deleted service, a denied call) then fails it the same way, and alarms.
RETRY_INTERVAL, RETRY_ATTEMPTS, RETRY_BACKOFF = Duration.seconds(60), 5, 2
ALARM_PERIOD = Duration.minutes(5)
SECRET_CHANGED = "A secret the service reads at task start has a new current value"


class SecretChangeRedeploy(Construct):
    """Forces a new deployment of `service` when one of `sources` changes; alarms on `alarm_topic` if it can't."""

    def __init__(self, scope: Construct, construct_id: str, *, sources: Sequence[SecretSource],
                 service: ecs.FargateService | ecs.BaseService, alarm_topic: sns.ITopic | None = None) -> None:
        super().__init__(scope, construct_id)
        # Several variables may read one parameter or secret (different JSON keys): one match each is enough.
        unique = sorted({(s.kind, s.name, s.complete_arn) for s in sources})
        parameters = [name for kind, name, _ in unique if kind == "ssm"]
        secrets_by_arn = [name for kind, name, complete in unique if kind == "secretsmanager" and complete]
        secrets_by_name = [name for kind, name, complete in unique if kind == "secretsmanager" and not complete]

        self.state_machine = self._state_machine(service)
        self.dead_letter_queue = self._dead_letter_queue()
        target = targets.SfnStateMachine(self.state_machine, dead_letter_queue=self.dead_letter_queue,
                                         retry_attempts=EVENT_RETRIES, max_event_age=EVENT_MAX_AGE)
        stack = Stack.of(self)
        patterns: list[tuple[str, str, events.EventPattern]] = []
        if parameters:
            # Exact strings, no prefix: `detail.name` is the name as written (/echo/api-token, plain-name), and
            # `resources` its ARN, "parameter/" and the name without a leading "/", which pins the partition,
            # account and Region. Both, because "/plain-name" and "plain-name" would share one ARN.
            arns = [f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:parameter/{name.lstrip('/')}"
                    for name in parameters]
            patterns.append(("ParameterChanged", "A parameter the service reads at task start was written",
                             events.EventPattern(
                                 source=["aws.ssm"], detail_type=["Parameter Store Change"], resources=arns,
                                 # A failed operation (e.g. an aws:ec2:image value that is not an AMI) reports
                                 # an exception and changed nothing.
                                 detail={"name": parameters, "operation": SSM_OPERATIONS,
                                         "exception": events.Match.does_not_exist()},
                             )))
        self._warn_if_elsewhere(secrets_by_arn + secrets_by_name)
        if secrets_by_arn:
            # The complete ARN, suffix included, is this one secret: a secret deleted and created again under
            # the same name has another suffix, and the task (which names the old ARN) could not read it.
            patterns.append(("SecretChanged", SECRET_CHANGED, _secret_pattern(resources=secrets_by_arn)))
        if secrets_by_name:
            # A partial ARN names the secret without its suffix; ECS reads whichever secret has that name now.
            # The name must equal it (a prefix "db" would also match "db-prod"), and the ARN must start with
            # the partial ARN and "-", which pins the partition, Region and account.
            patterns.append(("NamedSecretChanged", SECRET_CHANGED, _secret_pattern(
                resources=events.Match.any_of(*(events.Match.prefix(f"{arn}-") for arn in secrets_by_name)),
                names=[_secret_name(arn) for arn in secrets_by_name])))
        # A pattern ANDs its fields, so "this parameter", "this ARN" and "this name" are one rule each; every rule
        # starts the same state machine.
        self.rules: list[events.Rule] = [
            events.Rule(self, rule_id, description=description, event_pattern=pattern, targets=[target])
            for rule_id, description, pattern in patterns
        ]
        self.alarms: dict[str, cloudwatch.Alarm] = self._alarms(alarm_topic)

    def _state_machine(self, service: ecs.BaseService) -> sfn.StateMachine:
        # Only the service's own fields: the event is never passed into the call.
        redeploy = tasks.CallAwsService(
            self, "ForceNewDeployment", service="ecs", action="updateService",
            parameters={"Cluster": service.cluster.cluster_arn, "Service": service.service_name,
                        "ForceNewDeployment": True},
            iam_action="ecs:UpdateService", iam_resources=[service.service_arn],
        )
        redeploy.add_retry(errors=[sfn.Errors.TASKS_FAILED], interval=RETRY_INTERVAL, max_attempts=RETRY_ATTEMPTS,
                           backoff_rate=RETRY_BACKOFF, jitter_strategy=sfn.JitterType.FULL)
        # Named after the stack: CloudFormation would name it after the logical id alone, and the deploy role may
        # create only resources whose names start with the stack's (bootstrap/rules.py).
        machine = sfn.StateMachine(self, "StateMachine", state_machine_type=sfn.StateMachineType.STANDARD,
                                   state_machine_name=f"{Stack.of(self).stack_name}-secret-redeploy",
                                   definition_body=sfn.DefinitionBody.from_chainable(redeploy),
                                   timeout=Duration.hours(1))
        # Logging and tracing would give the role logs:* / xray:* on "*"; its one permission is UpdateService.
        acknowledge(machine, "SF1", "One UpdateService call: Step Functions keeps each execution's history (input, "
                    "the call, its error) for 90 days, ECS records the deployment in the service's events, and a "
                    "failed execution alarms. CloudWatch Logs would need logs:*Delivery* on '*' in the role.")
        acknowledge(machine, "SF2", "One synchronous ECS API call: an X-Ray trace would show nothing the execution "
                    "history does not, and needs xray:Put* on '*' in the role.")
        return machine

    def _dead_letter_queue(self) -> sqs.Queue:
        queue = sqs.Queue(self, "DeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                          retention_period=DLQ_RETENTION)
        acknowledge(queue, "SQS3", "This queue is itself the dead-letter queue of the redeploy rules' target; a "
                    "message in it is an alarm, and a person replays it.")
        return queue

    def _warn_if_elsewhere(self, secret_arns: list[str]) -> None:
        # A secret's events go to the default bus of its own account and Region only.
        stack = Stack.of(self)
        for arn in secret_arns:
            region, account = arn.split(":")[3:5]
            # Only where the stack's own account or Region is known at synth (an env-agnostic stack has tokens).
            if any(not Token.is_unresolved(own) and v != own
                   for v, own in ((region, stack.region), (account, stack.account))):
                Annotations.of(self).add_warning_v2(
                    "echo:SecretElsewhere", f"{arn} is in another account or Region: its changes do not reach "
                    "this stack's event bus, and do not redeploy the service")

    def _alarms(self, topic: sns.ITopic | None) -> dict[str, cloudwatch.Alarm]:
        machine = self.state_machine
        # Executions are rare, so most periods have no datapoint: missing is "nothing failed".
        failed = cloudwatch.MathExpression(
            expression="FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)", label="Redeploys not done",
            period=ALARM_PERIOD, using_metrics={
                "failed": machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
                "timedOut": machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
                "aborted": machine.metric_aborted(period=ALARM_PERIOD, statistic="Sum"),
            })
        undelivered = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic="Maximum")
        alarms = {
            "redeploy_failed": self._at_least_one(
                "RedeployFailed", failed,
                "A secret changed but forcing a new deployment failed, so the service's tasks still hold the old "
                "value. See the failed execution of the state machine, then run `aws ecs update-service "
                "--force-new-deployment` for the service.",
            ),
            "events_undelivered": self._at_least_one(
                "EventsUndelivered", undelivered,
                "EventBridge could not start the redeploy state machine for a secret change (the event is in the "
                "dead-letter queue, its error in the message attributes): the service still runs with the old "
                "value. Force a new "
                "deployment of the service, then delete the message.",
            ),
        }
        for alarm in alarms.values():
            if topic:
                # OK too, as the service's other alarms: whoever was told is told when it is over.
                action = cloudwatch_actions.SnsAction(topic)
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)
            else:
                acknowledge_control(alarm, "CloudWatchAlarmAction", "No alarm topic in this environment "
                                    "(monitoring=false): the alarm's state is on the CloudWatch console; "
                                    "monitoring=true (prod) sends it to the alarm topic.")
        return alarms

    def _at_least_one(self, alarm_id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        """An alarm on one occurrence in a period; no data (nothing happened) is not one."""
        return cloudwatch.Alarm(
            self, alarm_id, metric=metric, threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)


def _secret_pattern(*, resources: list[str], names: list[str] | None = None) -> events.EventPattern:
    detail: dict = {"labelUpdated": [CURRENT]}
    if names:
        detail["name"] = names
    return events.EventPattern(source=["aws.secretsmanager"], detail_type=["Secret Label Updated"],
                               resources=resources, detail=detail)


def _secret_name(partial_arn: str) -> str:
    # arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME; a name may itself hold "/", never ":".
    return partial_arn.split(":", 6)[6]
