"""The stack's log groups, all made one way: the retention and removal the settings ask for, and the KMS key
they are encrypted with (`log_kms_key`).

With `log_kms_key=create` this construct makes one customer managed key for the stack, rotated yearly, whose
policy lets CloudWatch Logs use it for this stack's log groups only (CloudWatch Logs User Guide, "Encrypt log
data in CloudWatch Logs using AWS KMS", step 2, narrowed from the account's groups to this stack's names).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from settings.model import CREATE_KEY
from stacks.compliance import acknowledge_control
from stacks.log_retention import RETENTION_BY_DAYS

# What CloudWatch Logs does with a log group's key: encrypt and decrypt its events, describe the key.
LOGS_KEY_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
# AWS WAF logs only to log groups whose name starts with this (AWS WAF Developer Guide, "Sending web ACL traffic
# logs to an Amazon CloudWatch Logs log group").
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# Where a Lambda function logs unless told otherwise: CDK's custom resource handlers do.
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"


def waf_log_group_name(stack: Stack) -> str:
    return f"{WAF_LOG_GROUP_PREFIX}{stack.stack_name}"


class StackLogs(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int, retain: bool,
                 kms_key: str | None) -> None:
        super().__init__(scope, construct_id)
        self._retention = RETENTION_BY_DAYS[retention_days]
        # Retained log groups outlive the stack; their key must too, or what they hold can never be read again.
        self._removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.key: kms.IKey | None = None
        if kms_key == CREATE_KEY:
            self.key = self._create_key()
        elif kms_key:
            self.key = kms.Key.from_key_arn(self, "Key", kms_key)

    def _create_key(self) -> kms.Key:
        stack = Stack.of(self)
        key = kms.Key(
            self, "Key", enable_key_rotation=True, alias=f"alias/{stack.stack_name}/logs",
            description=f"Encrypts the log groups of {stack.stack_name} in CloudWatch Logs",
            removal_policy=self._removal,
            # A deletion waits AWS's longest window: a key deleted by mistake can be recovered for 30 days.
            pending_window=Duration.days(30),
        )
        # CloudWatch Logs names the log group in the encryption context of every request it makes with the key.
        groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchLogsForThisStacksLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [
                f"{groups}{stack.stack_name}-*", f"{groups}{waf_log_group_name(stack)}",
                f"{groups}{LAMBDA_LOG_GROUP_PREFIX}{stack.stack_name}-*"]}},
        ))
        return key

    def group(self, scope: Construct, construct_id: str, *, name: str | None = None) -> logs.LogGroup:
        """A log group in `scope` (its construct path, and so its logical id, stays where it was)."""
        group = logs.LogGroup(scope, construct_id, log_group_name=name, retention=self._retention,
                              removal_policy=self._removal, encryption_key=self.key)
        if self.key is None:
            acknowledge_control(group, "CloudWatchLogGroupEncrypted", "CloudWatch Logs encrypts every log group at "
                                "rest with keys of its own; a customer managed key (log_kms_key=create, about $1 a "
                                "month) is for environments under audit, as prod's settings ask.")
        return group
