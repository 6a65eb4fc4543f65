"""CircleCI's way into the account: its OIDC identity provider and the roles its pipeline may assume.

No IAM users and no access keys: a job exchanges its short-lived CircleCI OIDC token (CIRCLE_OIDC_TOKEN_V2,
whose subject names the project, the repository and the branch) for a role's credentials, one AWS step at a time
(.circleci/aws-role.sh).

- `push_role` (build-push, the CI branch): pushes this commit's two images, pulling their base images through the
  registry's Docker Hub cache.
- `deploy_roles[ENV]` (deploy-ENV, the CI branch): deploys that environment's service stack and nothing else, then
  reads what `make verify` reads; prod's also marks the verified images as releases.
- `diff_role` (diff, any branch of the repository): reads the deployed templates, enough for `cdk diff`.

A deploy role does not assume CDK's deploy role, which may change any stack in the account: the CDK CLI then
works with the role's own rights ("could not be used to assume ... Proceeding anyway"), which are CloudFormation
on its own stack only, passing CDK's CloudFormation execution role (the least-privilege policies of make
bootstrap) to CloudFormation. The shared registry and CI access stacks are deployed by an administrator with
`make deploy`: a role that could deploy the CI access stack could rewrite its own rights.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.compliance import acknowledge

# The roles and parameter `cdk bootstrap` creates (default qualifier).
BOOTSTRAP_QUALIFIER = "hnb659fds"
# The CloudFormation a `cdk deploy` of one stack makes, as CDK's own deploy role grants it on every stack.
DEPLOY_ACTIONS = ("cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet",
                  "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
                  "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
                  "cloudformation:DescribeStackResources", "cloudformation:GetTemplate",
                  "cloudformation:RollbackStack", "cloudformation:ContinueUpdateRollback")
READ_TEMPLATE_ACTIONS = ("cloudformation:DescribeStacks", "cloudformation:GetTemplate")
# What `make verify` reads besides the stack: the service, its stopped tasks and its targets' health.
VERIFY_READ_ACTIONS = ("ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks",
                       "elasticloadbalancing:DescribeTargetHealth")
# Pulling a Docker Hub image through the registry's cache: the first pull creates its repository and imports.
PULL_THROUGH_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchImportUpstreamImage", "ecr:CreateRepository")


class CircleCiAccess(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, org_id: str, project_id: str, vcs_origin: str,
                 branch: str, repositories: list[ecr.IRepository], service_stacks: dict[str, str],
                 registry_stack: str, pull_through_prefix: str) -> None:
        super().__init__(scope, construct_id)
        self._issuer = f"oidc.circleci.com/org/{org_id}"
        self.provider = iam.OidcProviderNative(self, "Provider", url=f"https://{self._issuer}", client_ids=[org_id])
        # The V2 subject: org/ORG/project/PROJECT/user/USER/vcs-origin/HOST/OWNER/REPO/vcs-ref/REF.
        self._repository = f"org/{org_id}/project/{project_id}/user/*/vcs-origin/{vcs_origin}/vcs-ref/"
        ci_branch = f"refs/heads/{branch}"
        stack = Stack.of(self)

        self.push_role = self._role("PushRole", ci_branch, f"{vcs_origin} {branch}: push this commit's images")
        for repository in repositories:
            repository.grant_pull_push(self.push_role)
        self.push_role.add_to_policy(iam.PolicyStatement(
            actions=list(PULL_THROUGH_ACTIONS),
            resources=[f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository/{pull_through_prefix}/*"]))
        # The registry stack's outputs say whether it has the Docker Hub cache, and under which prefix.
        self.push_role.add_to_policy(iam.PolicyStatement(
            actions=["cloudformation:DescribeStacks"], resources=[self._stack_arn(registry_stack)]))
        acknowledge(self.push_role, "IAM5[Resource::*]", "ecr:GetAuthorizationToken has no resource-level "
                    "permissions; pushes are limited to the two repositories.")
        acknowledge(self.push_role, f"IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:"
                    f"repository/{pull_through_prefix}/*]", "The cache creates one repository per Docker Hub "
                    "image it pulls, under this prefix only.")

        self.deploy_roles: dict[str, iam.Role] = {}
        for env, stack_name in service_stacks.items():
            role = self._role(f"{env.capitalize()}DeployRole", ci_branch,
                              f"{vcs_origin} {branch}: deploy and verify {stack_name}, and only that stack")
            self._deploys_only(role, stack_name, stack)
            self.deploy_roles[env] = role
        # Only a deployment that verified in the last environment is a release: its role adds the release tag.
        for repository in repositories:
            repository.grant(self.deploy_roles[list(service_stacks)[-1]], "ecr:BatchGetImage", "ecr:PutImage")

        self.diff_role = self._role("DiffRole", "*", f"{vcs_origin}, any branch: read the deployed templates")
        # Not CDK's lookup role: that one holds ReadOnlyAccess to the whole account, too much for any branch.
        self.diff_role.add_to_policy(iam.PolicyStatement(
            actions=list(READ_TEMPLATE_ACTIONS),
            # and CDK's own bootstrap stack, whose outputs the CLI reads before comparing templates
            resources=[*(self._stack_arn(name) for name in service_stacks.values()), self._stack_arn("CDKToolkit")]))
        self._reads_bootstrap_version(self.diff_role)
        read_stacks = [(self.push_role, [registry_stack]), (self.diff_role, [*service_stacks.values(), "CDKToolkit"]),
                       *((role, [service_stacks[env], "CDKToolkit"]) for env, role in self.deploy_roles.items())]
        for role, stacks in read_stacks:
            for name in stacks:
                acknowledge(role, f"IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
                            f"<AWS::AccountId>:stack/{name}/*]", "A stack's ARN ends in the id CloudFormation "
                            "generates; the stack is named.")

    def _role(self, construct_id: str, ref: str, description: str) -> iam.Role:
        principal = iam.WebIdentityPrincipal(self.provider.open_id_connect_provider_arn, conditions={
            "StringEquals": {f"{self._issuer}:aud": self._issuer.rsplit("/", 1)[1]},
            "StringLike": {f"{self._issuer}:sub": self._repository + ref},
            # IAM's * also matches "/": a branch named x/vcs-ref/refs/heads/main would otherwise pass for main.
            "StringNotLike": {f"{self._issuer}:sub": "*/vcs-ref/*/vcs-ref/*"},
        })
        # Two hours: a deploy that waits for ECS and then rolls back can outlive one (each AWS step assumes the
        # role afresh; CDK's publishing role, chained, lasts an hour and is assumed again from these credentials).
        return iam.Role(self, construct_id, assumed_by=principal, description=description,
                        max_session_duration=Duration.hours(2))

    def _stack_arn(self, name: str) -> str:
        return f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/{name}/*"

    def _deploys_only(self, role: iam.Role, stack_name: str, stack: Stack) -> None:
        role.add_to_policy(iam.PolicyStatement(actions=list(DEPLOY_ACTIONS), resources=[self._stack_arn(stack_name)]))
        def bootstrap_role(name: str) -> str:
            return (f"arn:{stack.partition}:iam::{stack.account}:role/cdk-{BOOTSTRAP_QUALIFIER}-{name}-role-"
                    f"{stack.account}-{stack.region}")

        # CloudFormation does the work with CDK's execution role (make bootstrap's least-privilege policies).
        role.add_to_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[bootstrap_role("cfn-exec")],
            conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}))
        # The template goes to the bootstrap bucket through CDK's file publishing role; nothing else is assumed.
        role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole", "sts:TagSession"],
                                               resources=[bootstrap_role("file-publishing")]))
        role.add_to_policy(iam.PolicyStatement(actions=["cloudformation:DescribeStacks"],
                                               resources=[self._stack_arn("CDKToolkit")]))
        self._reads_bootstrap_version(role)
        # make verify: the service, its stopped tasks and its targets' health. Read-only, on every resource: the
        # cluster's name is CloudFormation's or the cluster_name setting's, and DescribeTargetHealth has no
        # resource-level permissions. (The lookup role the pipeline used before holds ReadOnlyAccess to everything.)
        role.add_to_policy(iam.PolicyStatement(actions=[*VERIFY_READ_ACTIONS], resources=["*"]))
        acknowledge(role, "IAM5[Resource::*]", "make verify's reads of the service, its tasks and its targets' "
                    "health: read-only; the cluster's name is generated, and target health has no resource-level "
                    "permissions.")

    def _reads_bootstrap_version(self, role: iam.Role) -> None:
        # GetParameters: CloudFormation resolves the template's BootstrapVersion parameter with the caller's rights.
        role.add_to_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter", "ssm:GetParameters"],
            resources=[f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/cdk-bootstrap/"
                       f"{BOOTSTRAP_QUALIFIER}/version"]))
