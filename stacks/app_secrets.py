"""The echo container's secrets: ECS reads each from SSM Parameter Store or Secrets Manager when a task starts.

Each becomes an `ecs.Secret`; the container definition grants the task's execution role read access to
exactly that parameter or secret (with Secrets Manager's random suffix matched when the ARN is given without
it), and decryption with `kms_key_arn` only when one is named.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from settings.app_config import SecretSource


class AppSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, sources: Mapping[str, SecretSource],
                 kms_key_arn: str | None) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key.from_key_arn(self, "Key", kms_key_arn) if kms_key_arn else None
        self.secrets: dict[str, ecs.Secret] = {}
        for name, source in sources.items():
            if source.kind == "ssm":
                parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
                    self, name, parameter_name=source.name, encryption_key=key)
                self.secrets[name] = ecs.Secret.from_ssm_parameter(parameter)
                continue
            if source.complete_arn:
                secret = secretsmanager.Secret.from_secret_attributes(
                    self, name, secret_complete_arn=source.name, encryption_key=key)
            else:  # CDK's grant then matches the six random characters Secrets Manager appends
                secret = secretsmanager.Secret.from_secret_attributes(
                    self, name, secret_partial_arn=source.name, encryption_key=key)
            self.secrets[name] = ecs.Secret.from_secrets_manager(secret, field=source.json_key)
