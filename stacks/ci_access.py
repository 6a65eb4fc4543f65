"""CircleCI's way into the account: its OIDC identity provider and the roles its pipeline may assume.

No IAM users and no access keys: a job exchanges its short-lived CircleCI OIDC token (CIRCLE_OIDC_TOKEN_V2,
whose subject names the project and the branch) for one hour of a role's credentials.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.compliance import acknowledge

# The roles `cdk bootstrap` creates (default qualifier). Deploying means assuming these, not holding
# CloudFormation or IAM rights directly; the lookup role alone is read-only.
BOOTSTRAP_QUALIFIER = "hnb659fds"
DEPLOY_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")


class CircleCiAccess(Construct):
    """`deploy_role`: the CI branch of one project, may push the images and deploy. `diff_role`: any branch of
    that project, may only read this project's deployed templates, enough for a template `cdk diff`."""

    def __init__(self, scope: Construct, construct_id: str, *, org_id: str, project_id: str, branch: str,
                 repositories: list[ecr.IRepository]) -> None:
        super().__init__(scope, construct_id)
        issuer = f"oidc.circleci.com/org/{org_id}"
        self.provider = iam.OidcProviderNative(self, "Provider", url=f"https://{issuer}", client_ids=[org_id])

        project_subject = f"org/{org_id}/project/{project_id}/user/*/vcs-origin/*/vcs-ref/"
        self.deploy_role = self._role("DeployRole", issuer, f"{project_subject}refs/heads/{branch}",
                                      f"CircleCI project {project_id}, branch {branch}: push images, deploy")
        for repository in repositories:
            repository.grant_pull_push(self.deploy_role)
        self._may_assume(self.deploy_role, DEPLOY_BOOTSTRAP_ROLES)
        acknowledge(self.deploy_role, "IAM5[Resource::*]", "ecr:GetAuthorizationToken has no resource-level "
                    "permissions; pushes are limited to the two repositories.")

        self.diff_role = self._role("DiffRole", issuer, f"{project_subject}*",
                                    f"CircleCI project {project_id}, any branch: read this project's templates")
        # Not CDK's lookup role: that one holds ReadOnlyAccess to the whole account, too much for any branch.
        # Deploy-time tokens (not the synth-time region): the same ARN, and cdk-nag finding, in every region.
        where = f"{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self.diff_role.add_to_policy(iam.PolicyStatement(
            actions=["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
            # and CDK's own bootstrap stack, whose outputs the CLI reads before comparing templates
            resources=[f"arn:{where}:stack/echo-fargate-*/*", f"arn:{where}:stack/CDKToolkit/*"],
        ))
        self.diff_role.add_to_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/cdk-bootstrap/"
                       f"{BOOTSTRAP_QUALIFIER}/version"],
        ))
        for stack_name in ("echo-fargate-*", "CDKToolkit"):
            acknowledge(self.diff_role, "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
                        f"<AWS::AccountId>:stack/{stack_name}/*]", "Read-only access to this project's stacks "
                        "and CDK's bootstrap stack, whose ARNs end in ids CloudFormation generates.")

    def _role(self, construct_id: str, issuer: str, subject: str, description: str) -> iam.Role:
        principal = iam.WebIdentityPrincipal(self.provider.open_id_connect_provider_arn, conditions={
            "StringEquals": {f"{issuer}:aud": issuer.rsplit("/", 1)[1]},
            "StringLike": {f"{issuer}:sub": subject},
            # IAM's * also matches "/": a branch named x/vcs-ref/refs/heads/main would otherwise pass for main.
            "StringNotLike": {f"{issuer}:sub": "*/vcs-ref/*/vcs-ref/*"},
        })
        return iam.Role(self, construct_id, assumed_by=principal, description=description,
                        max_session_duration=Duration.hours(1))

    def _may_assume(self, role: iam.Role, bootstrap_roles: tuple[str, ...]) -> None:
        stack = Stack.of(self)
        role.add_to_policy(iam.PolicyStatement(
            actions=["sts:AssumeRole", "sts:TagSession"],
            resources=[f"arn:{stack.partition}:iam::{stack.account}:role/cdk-{BOOTSTRAP_QUALIFIER}-{name}-role-"
                       f"{stack.account}-{stack.region}" for name in bootstrap_roles],
        ))
