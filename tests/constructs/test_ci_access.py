"""CircleCI access: an OIDC provider and four roles. Only the CI branch of the named repository may push and
deploy; each environment's deploy role may deploy its own service stack and nothing else; any branch may diff."""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests.conftest import CIRCLECI_ORG, CIRCLECI_PROJECT, VCS_ORIGIN
from tests.synth import ENVIRONMENTS

CI = "echo-fargate-ci"
ISSUER = f"oidc.circleci.com/org/{CIRCLECI_ORG}"
REPOSITORY_SUBJECT = f"org/{CIRCLECI_ORG}/project/{CIRCLECI_PROJECT}/user/*/vcs-origin/{VCS_ORIGIN}/vcs-ref/"
ROLES = ("PushRole", "DevDeployRole", "ProdDeployRole", "DiffRole")


def _roles(synth) -> dict[str, dict]:
    return {key: r["Properties"] for key, r in synth.template(CI).find_resources("AWS::IAM::Role").items()}


def _role(synth, name: str) -> dict:
    (role,) = [props for key, props in _roles(synth).items() if key.startswith(f"CircleCi{name}")]
    return role


def _statements(synth, role_name: str) -> list[dict]:
    return synth.policy_of(f"CircleCi{role_name}", CI)["PolicyDocument"]["Statement"]


def _actions(statements: list[dict]) -> set[str]:
    return {action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def _resources(statement: dict) -> list[str]:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [json.dumps(resource) for resource in resources]


def _granting(statements: list[dict], action: str) -> list[dict]:
    return [s for s in statements if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_ci_stack_without_a_circleci_organization(synthesized, env):
    assert CI not in synthesized[env].templates


def test_the_oidc_provider_is_circlecis_for_the_organization(with_ci):
    with_ci.template(CI).has_resource_properties("AWS::IAM::OIDCProvider", {
        "Url": f"https://{ISSUER}", "ClientIdList": [CIRCLECI_ORG],
    })


def test_four_roles_one_per_job_kind_and_environment(with_ci):
    assert sorted(key.removeprefix("CircleCi")[:-8] for key in _roles(with_ci)) == sorted(ROLES)


@pytest.mark.parametrize("name", ["PushRole", "DevDeployRole", "ProdDeployRole"])
def test_only_the_main_branch_of_this_repository_may_push_and_deploy(with_ci, name):
    role = _role(with_ci, name)
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {f"{ISSUER}:aud": CIRCLECI_ORG},
        "StringLike": {f"{ISSUER}:sub": f"{REPOSITORY_SUBJECT}refs/heads/main"},
        "StringNotLike": {f"{ISSUER}:sub": "*/vcs-ref/*/vcs-ref/*"},
    }
    # two hours: each AWS step assumes afresh, and a deploy that waits and rolls back can outlive one
    assert role["MaxSessionDuration"] == 7200


def _admits(condition: dict, subject: str) -> bool:
    """IAM's string matching for these conditions: * matches any run of characters, "/" included."""
    like = all(fnmatch.fnmatchcase(subject, p) for p in condition["StringLike"].values())
    not_like = all(not fnmatch.fnmatchcase(subject, p) for p in condition.get("StringNotLike", {}).values())
    return like and not_like


def _subject(origin: str, ref: str, project: str = CIRCLECI_PROJECT) -> str:
    return (f"org/{CIRCLECI_ORG}/project/{project}/user/0b1c2d3e-0000-4000-8000-000000000001"
            f"/vcs-origin/{origin}/vcs-ref/{ref}")


@pytest.mark.parametrize(("origin", "ref", "admitted"), [
    (VCS_ORIGIN, "refs/heads/main", True),
    (VCS_ORIGIN, "refs/heads/feature", False),
    (VCS_ORIGIN, "refs/heads/x/vcs-ref/refs/heads/main", False),  # a branch crafted to end like main
    (VCS_ORIGIN, "refs/tags/main", False),
    ("github.com/someone-else/echo-fargate", "refs/heads/main", False),  # the project's other repository
    (f"{VCS_ORIGIN}-fork", "refs/heads/main", False),
])
def test_which_subjects_a_deploy_role_admits(with_ci, origin, ref, admitted):
    (statement,) = _role(with_ci, "ProdDeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert _admits(statement["Condition"], _subject(origin, ref)) is admitted
    other_project = _subject(origin, ref, project="00000000-0000-4000-8000-000000000bad")
    assert not _admits(statement["Condition"], other_project)


@pytest.mark.parametrize(("env", "other"), [("dev", "prod"), ("prod", "dev")])
def test_a_deploy_role_may_change_its_own_stack_only(with_ci, env, other):
    statements = _statements(with_ci, f"{env.capitalize()}DeployRole")
    (stack,) = _granting(statements, "cloudformation:ExecuteChangeSet")
    assert [r.split(":stack/")[1].split('"')[0] for r in _resources(stack)] == [f"echo-fargate-{env}/*"]
    everything = json.dumps(statements)
    assert f"echo-fargate-{other}" not in everything
    assert "echo-fargate-ci" not in everything and "echo-fargate-registry" not in everything
    assert not [s for s in statements if s["Resource"] == "*" and any(
        action.startswith(("cloudformation:", "iam:", "sts:")) for action in _actions([s]))]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_deploy_role_passes_cdks_execution_role_to_cloudformation_and_assumes_no_deploy_role(with_ci, env):
    statements = _statements(with_ci, f"{env.capitalize()}DeployRole")
    (passes,) = _granting(statements, "iam:PassRole")
    assert "cdk-hnb659fds-cfn-exec-role-" in _resources(passes)[0]
    assert passes["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    (assumes,) = _granting(statements, "sts:AssumeRole")
    assumed = [r.split(":role/cdk-hnb659fds-")[1].split("-role-")[0] for r in _resources(assumes)]
    # not CDK's deploy role (CloudFormation on every stack), nor its lookup role (ReadOnlyAccess to everything)
    assert assumed == ["file-publishing"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_deploy_role_reads_what_make_verify_reads(with_ci, env):
    statements = _statements(with_ci, f"{env.capitalize()}DeployRole")
    assert _actions(statements) >= {"ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks",
                                    "elasticloadbalancing:DescribeTargetHealth", "cloudformation:DescribeStacks",
                                    "ssm:GetParameter", "ssm:GetParameters"}
    reads = _granting(statements, "ecs:DescribeServices")
    assert _actions(reads) == {"ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks",
                               "elasticloadbalancing:DescribeTargetHealth"}, "read-only where the resource is *"


def test_only_the_last_environments_role_marks_releases(with_ci):
    assert _granting(_statements(with_ci, "ProdDeployRole"), "ecr:PutImage")
    assert not _granting(_statements(with_ci, "DevDeployRole"), "ecr:PutImage")


def test_the_push_role_pushes_the_two_images_and_pulls_through_the_cache_only(with_ci):
    statements = _statements(with_ci, "PushRole")
    (push,) = [s for s in _granting(statements, "ecr:PutImage")]
    assert set(push["Action"]) >= {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:CompleteLayerUpload"}
    assert [r.split(":repository/")[1][:-4] for r in _resources(push)] == ["echo-fargate/echo",
                                                                            "echo-fargate/nginx-proxy"]
    (cache,) = _granting(statements, "ecr:BatchImportUpstreamImage")
    assert set(cache["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                    "ecr:BatchCheckLayerAvailability", "ecr:BatchImportUpstreamImage",
                                    "ecr:CreateRepository"}
    assert _resources(cache)[0].endswith(':repository/docker-hub/*"]]}')
    (token,) = _granting(statements, "ecr:GetAuthorizationToken")
    assert token["Resource"] == "*"
    (registry,) = _granting(statements, "cloudformation:DescribeStacks")
    assert ":stack/echo-fargate-registry/*" in _resources(registry)[0]
    assert not _granting(statements, "sts:AssumeRole") and not _granting(statements, "iam:PassRole")


def test_the_diff_role_reads_the_service_stacks_for_any_branch_of_the_repository(with_ci):
    (statement,) = _role(with_ci, "DiffRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringLike"] == {f"{ISSUER}:sub": f"{REPOSITORY_SUBJECT}*"}
    statements = _statements(with_ci, "DiffRole")
    assert _actions(statements) == {"cloudformation:DescribeStacks", "cloudformation:GetTemplate",
                                    "ssm:GetParameter", "ssm:GetParameters"}
    (templates,) = _granting(statements, "cloudformation:GetTemplate")
    stacks = [r.split(":stack/")[1].split('"')[0] for r in _resources(templates)]
    assert sorted(stacks) == ["CDKToolkit/*", "echo-fargate-dev/*", "echo-fargate-prod/*"]
    assert "lookup-role" not in json.dumps(statements)  # no account-wide read


def test_the_branch_and_the_environments_are_settings(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("prod", tmp_path, circleci_org_id=CIRCLECI_ORG, circleci_project_id=CIRCLECI_PROJECT,
                       ci_vcs_origin=VCS_ORIGIN, ci_branch="release", ci_environments="prod")
    assert sorted(key.removeprefix("CircleCi")[:-8] for key in _roles(synth)) == ["DiffRole", "ProdDeployRole",
                                                                                  "PushRole"]
    (statement,) = _role(synth, "ProdDeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringLike"][f"{ISSUER}:sub"].endswith("/vcs-ref/refs/heads/release")


def test_no_iam_users_or_access_keys_anywhere(synthesized, with_ci, built_images, ecr_images):
    for synth in [*synthesized.values(), with_ci, built_images, ecr_images]:
        for template in synth.templates.values():
            types = {r["Type"] for r in template["Resources"].values()}
            assert not types & {"AWS::IAM::User", "AWS::IAM::AccessKey"}


def test_outputs_name_the_role_arns_for_the_circleci_contexts(with_ci):
    assert set(with_ci.template(CI).find_outputs("*")) == {"PushRoleArn", "DevDeployRoleArn", "ProdDeployRoleArn",
                                                           "DiffRoleArn"}


def test_the_shared_stacks_are_protected_from_deletion(with_ci):
    artifacts = with_ci.manifest["artifacts"]
    for stack in ("echo-fargate-registry", CI):
        assert artifacts[stack]["properties"]["terminationProtection"] is True
