"""The bootstrap policy stack, a CDK app of its own: the execution policies and both permissions boundaries,
read from bootstrap/execution-policy.json.

    npx --no-install cdk --app ".venv/bin/python -m bootstrap.app" deploy echo-fargate-bootstrap-policies
    .venv/bin/python -m bootstrap.app DIR      # the same assembly into DIR, without the CLI

It deploys with your own credentials before `cdk bootstrap` exists, and is never part of the main app: the
execution role must not be able to edit its own policies. Hence the legacy synthesizer: the CLI sends its
template (under CloudFormation's 51,200-byte limit for a template in the request) with the call, while
CliCredentialsStackSynthesizer would still upload it to the bootstrap bucket, which does not exist yet.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from bootstrap import STACK

POLICY_FILE = Path(__file__).with_name("execution-policy.json")
PLACEHOLDER = re.compile(r"\$\{AWS::[A-Za-z]+\}")


def substituted(value):
    """The document with every string holding a pseudo parameter wrapped in Fn::Sub, resolved at deploy time."""
    if isinstance(value, dict):
        return {key: substituted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [substituted(item) for item in value]
    if isinstance(value, str) and PLACEHOLDER.search(value):
        return cdk.Fn.sub(value)
    return value


class BootstrapPolicies(cdk.Stack):
    def __init__(self, scope, construct_id: str, *, policy: dict, **kwargs) -> None:
        super().__init__(scope, construct_id, synthesizer=cdk.LegacyStackSynthesizer(),
                         description="Least-privilege CloudFormation execution policies and permissions "
                                     "boundaries for echo-fargate (make bootstrap)", **kwargs)
        execution = [self._policy(f"Execution{index}", entry, "CloudFormation execution policy of echo-fargate")
                     for index, entry in enumerate(policy["execution_policies"], start=1)]
        self._policy("ExecutionRoleBoundary", policy["execution_role_boundary"],
                     "Permissions boundary of CDK's CloudFormation execution role")
        self._policy("RoleBoundary", policy["role_boundary"], "Permissions boundary of every echo-fargate role")
        # Ref of a managed policy is its ARN: what `cdk bootstrap --cloudformation-execution-policies` takes.
        cdk.CfnOutput(self, "ExecutionPolicyArns", value=cdk.Fn.join(",", [p.ref for p in execution]))
        cdk.CfnOutput(self, "ExecutionRoleBoundaryName", value=cdk.Fn.sub(policy["execution_role_boundary"]["name"]))
        # Where the policies exist, so the one environment `cdk bootstrap` may use them in.
        cdk.CfnOutput(self, "Environment", value=cdk.Fn.sub("aws://${AWS::AccountId}/${AWS::Region}"))
        cdk.CfnOutput(self, "RoleBoundaryName", value=cdk.Fn.sub(policy["role_boundary"]["name"]))

    def _policy(self, construct_id: str, entry: dict, description: str) -> iam.CfnManagedPolicy:
        return iam.CfnManagedPolicy(self, construct_id, managed_policy_name=cdk.Fn.sub(entry["name"]),
                                    description=description, policy_document=substituted(entry["document"]))


def main(argv: list[str] | None = None) -> None:
    """Under the CDK CLI the output directory comes from it; `python -m bootstrap.app DIR` writes to DIR."""
    argv = sys.argv[1:] if argv is None else argv
    app = cdk.App(outdir=argv[0]) if argv else cdk.App()
    BootstrapPolicies(app, STACK, policy=json.loads(POLICY_FILE.read_text()))
    app.synth()


if __name__ == "__main__":
    main()
