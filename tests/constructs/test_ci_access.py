"""CircleCI access: an OIDC provider and two roles; only the CI branch of one project may push and deploy."""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests.conftest import CIRCLECI_ORG, CIRCLECI_PROJECT
from tests.synth import ENVIRONMENTS

CI = "echo-fargate-ci"
ISSUER = f"oidc.circleci.com/org/{CIRCLECI_ORG}"
PROJECT_SUBJECT = f"org/{CIRCLECI_ORG}/project/{CIRCLECI_PROJECT}/user/*/vcs-origin/*/vcs-ref/"


def _roles(synth) -> dict[str, dict]:
    return {key: r["Properties"] for key, r in synth.template(CI).find_resources("AWS::IAM::Role").items()}


def _role(synth, name: str) -> dict:
    (role,) = [props for key, props in _roles(synth).items() if key.startswith(f"CircleCi{name}")]
    return role


def _policy_statements(synth, role_name: str) -> list[dict]:
    return synth.policy_of(f"CircleCi{role_name}", CI)["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_ci_stack_without_a_circleci_organization(synthesized, env):
    assert CI not in synthesized[env].templates


def test_the_oidc_provider_is_circlecis_for_the_organization(with_ci):
    with_ci.template(CI).has_resource_properties("AWS::IAM::OIDCProvider", {
        "Url": f"https://{ISSUER}", "ClientIdList": [CIRCLECI_ORG],
    })


def test_only_the_main_branch_of_this_project_may_assume_the_deploy_role(with_ci):
    role = _role(with_ci, "DeployRole")
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {f"{ISSUER}:aud": CIRCLECI_ORG},
        "StringLike": {f"{ISSUER}:sub": f"{PROJECT_SUBJECT}refs/heads/main"},
        "StringNotLike": {f"{ISSUER}:sub": "*/vcs-ref/*/vcs-ref/*"},
    }
    assert role["MaxSessionDuration"] == 3600


def test_the_deploy_role_may_push_the_two_images_and_assume_the_bootstrap_roles_only(with_ci):
    statements = _policy_statements(with_ci, "DeployRole")
    push, token, assume = statements
    assert set(push["Action"]) >= {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:CompleteLayerUpload"}
    assert [json.dumps(r).split(":repository/")[1][:-4] for r in push["Resource"]] == [
        "echo-fargate/echo", "echo-fargate/nginx-proxy"]
    assert (token["Action"], token["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert assume["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    roles = [json.dumps(r).split(":role/cdk-hnb659fds-")[1].split("-role-")[0] for r in assume["Resource"]]
    assert roles == ["deploy", "file-publishing", "image-publishing", "lookup"]


def _admits(condition: dict, subject: str) -> bool:
    """IAM's string matching for these conditions: * matches any run of characters, "/" included."""
    like = all(fnmatch.fnmatchcase(subject, p) for p in condition["StringLike"].values())
    not_like = all(not fnmatch.fnmatchcase(subject, p) for p in condition.get("StringNotLike", {}).values())
    return like and not_like


@pytest.mark.parametrize(("branch", "admitted"), [
    ("refs/heads/main", True),
    ("refs/heads/feature", False),
    ("refs/heads/x/vcs-ref/refs/heads/main", False),  # a branch crafted to end like main
    ("refs/tags/main", False),
])
def test_which_subjects_the_deploy_role_admits(with_ci, branch, admitted):
    (statement,) = _role(with_ci, "DeployRole")["AssumeRolePolicyDocument"]["Statement"]
    subject = (f"org/{CIRCLECI_ORG}/project/{CIRCLECI_PROJECT}/user/0b1c2d3e-0000-4000-8000-000000000001"
               f"/vcs-origin/github.com/team/echo-fargate/vcs-ref/{branch}")
    assert _admits(statement["Condition"], subject) is admitted
    other_project = subject.replace(CIRCLECI_PROJECT, "00000000-0000-4000-8000-000000000bad")
    assert not _admits(statement["Condition"], other_project)


def test_the_diff_role_reads_only_this_projects_stacks_for_any_branch(with_ci):
    (statement,) = _role(with_ci, "DiffRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringLike"] == {f"{ISSUER}:sub": f"{PROJECT_SUBJECT}*"}
    templates, version = _policy_statements(with_ci, "DiffRole")
    assert templates["Action"] == ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"]
    stacks = [json.dumps(r).split(":stack/")[1].split('"')[0] for r in templates["Resource"]]
    assert sorted(stacks) == ["CDKToolkit/*", "echo-fargate-*/*"]
    assert version["Action"] == "ssm:GetParameter"
    assert "parameter/cdk-bootstrap/hnb659fds/version" in json.dumps(version["Resource"])
    assert "lookup-role" not in json.dumps(_policy_statements(with_ci, "DiffRole"))  # no account-wide read


def test_a_branch_setting_moves_the_deploy_role(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("prod", tmp_path, circleci_org_id=CIRCLECI_ORG, circleci_project_id=CIRCLECI_PROJECT,
                       ci_branch="release")
    (statement,) = _role(synth, "DeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringLike"][f"{ISSUER}:sub"].endswith("/vcs-ref/refs/heads/release")


def test_no_iam_users_or_access_keys_anywhere(synthesized, with_ci, built_images, ecr_images):
    for synth in [*synthesized.values(), with_ci, built_images, ecr_images]:
        for template in synth.templates.values():
            types = {r["Type"] for r in template["Resources"].values()}
            assert not types & {"AWS::IAM::User", "AWS::IAM::AccessKey"}


def test_outputs_name_the_role_arns_for_the_circleci_context(with_ci):
    assert set(with_ci.template(CI).find_outputs("*")) == {"DeployRoleArn", "DiffRoleArn"}


def test_the_shared_stacks_are_protected_from_deletion(with_ci):
    artifacts = with_ci.manifest["artifacts"]
    for stack in ("echo-fargate-registry", CI):
        assert artifacts[stack]["properties"]["terminationProtection"] is True
