"""How settings are layered: defaults, then cdk.json's environment, then `-c` on the command line."""

from __future__ import annotations

import re

import pytest

from settings import Settings, SettingsError, load_settings
from settings.loader import SHARED_SETTINGS
from tests.synth import CDK_CONTEXT, REQUIRED_INPUTS, ROOT

PROD = {**CDK_CONTEXT, "env": "prod", **REQUIRED_INPUTS["prod"]}

ISSUE_SETTINGS = [
    "cpu", "memory", "desired_count", "echo_image", "nginx_image", "backend_host", "health_check_path",
    "health_check_interval", "health_check_timeout", "healthy_threshold", "unhealthy_threshold",
    "deregistration_delay", "ingress_cidrs", "log_retention_days", "max_azs", "nat_gateways", "vpc_id",
    "cluster_name",
]


def test_dev_is_the_default_environment_and_uses_the_defaults():
    settings = load_settings(CDK_CONTEXT)
    assert settings.env == "dev"
    # dev's changes: its task on FARGATE_SPOT, no alarms or dashboard (keeps dev under $36 a month)
    assert settings == Settings(spot=100, monitoring=False)


def test_prod_changes_what_cdk_json_says():
    settings = load_settings(PROD)
    assert (settings.image_source, settings.allow_public_images, settings.allow_http) == ("ecr", False, False)
    assert (settings.min_tasks, settings.max_tasks, settings.nat_gateways, settings.task_subnets) == (
        2, 6, 1, "private")
    assert (settings.container_insights, settings.waf) == (True, True)
    assert (settings.log_retention_days, settings.retain_logs, settings.termination_protection) == (365, True, True)
    assert settings.cpu == Settings().cpu


def test_command_line_strings_are_converted_and_win_over_the_environment():
    settings = load_settings({**PROD, "min_tasks": "3", "max_tasks": "9", "retain_logs": "false",
                              "ingress_cidrs": "10.0.0.0/8, 192.168.0.0/16"})
    assert (settings.min_tasks, settings.max_tasks) == (3, 9)
    assert settings.retain_logs is False
    assert settings.ingress_cidrs == ("10.0.0.0/8", "192.168.0.0/16")


def test_json_values_from_cdk_json_work_too():
    settings = load_settings({**CDK_CONTEXT, "ingress_cidrs": ["203.0.113.0/24"], "desired_count": 4})
    assert (settings.ingress_cidrs, settings.desired_count) == (("203.0.113.0/24",), 4)


def test_empty_value_clears_an_optional_setting():
    assert load_settings({**CDK_CONTEXT, "vpc_id": "", "cluster_name": ""}).vpc_id is None


def test_cdk_keys_are_not_mistaken_for_settings():
    context = {**CDK_CONTEXT, "aws:cdk:enable-path-metadata": True, "acknowledged-issue-numbers": [32775],
               "aws-cdk:enableDiffNoFail": True, "@aws-cdk/core:failSynthOnValidationErrors": False,
               "cli-telemetry": False,
               "vpc-provider:account=1:filter.vpc-id=vpc-1:region=x": {"vpcId": "vpc-1"}}
    assert load_settings(context).env == "dev"


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as raised:
        load_settings({**CDK_CONTEXT, "cpu": "300", "desird_count": "2", "max_azs": "1"})
    assert len(raised.value.problems) == 3


def test_a_misspelt_setting_in_cdk_json_is_caught():
    context = {**CDK_CONTEXT, "environments": {"dev": {"log_retention": 30}}}
    with pytest.raises(SettingsError, match=r"cdk.json environments.dev.log_retention: unknown setting "
                                            r"\(did you mean 'log_retention_days'\?\)"):
        load_settings(context)


def test_the_issue_names_every_setting():
    assert set(ISSUE_SETTINGS) <= set(Settings.setting_names())


def test_defaults_keep_the_rollout_wait_at_30_seconds_or_less():
    assert Settings().load_balancer_rollout_wait <= 30


def test_the_settings_page_lists_every_setting_with_its_default():
    from tools.settings_table import TABLE_PAGE, settings_table

    readme = TABLE_PAGE.read_text()
    assert TABLE_PAGE == ROOT / "docs" / "settings.md"
    assert settings_table() in readme, "docs/settings.md's table is stale: python -m tools.settings_table --write"
    rows = {line.split("|")[1].strip(" `"): [cell.strip() for cell in line.split("|")[2:5]]
            for line in readme.splitlines() if re.match(r"^\| `\w+` \|", line)}
    assert set(Settings.model_fields) <= set(rows)
    # default, dev, prod: the columns say what cdk.json says
    assert rows["spot"] == ["`0`", "`100`", ""]
    assert rows["monitoring"] == ["`true`", "`false`", ""]
    assert rows["min_tasks"] == ["`unset`", "", "`2`"]


# A valid value for every setting checked against a pattern, for the trailing-newline test below.
PATTERN_CHECKED = {
    "echo_image": "stormcat24/echo:latest", "nginx_image": "registry.example.com:5000/nginx-proxy:1",
    "backend_host": "localhost:8080", "health_check_path": "/healthz", "health_check_success_codes": "200-299",
    "vpc_id": "vpc-0123456789abcdef0", "cluster_name": "echo", "image_tag": "0a1b2c3d",
    "circleci_org_id": "1b2c3d4e-0000-4000-8000-00000000abcd",
    "docker_hub_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub",
    "ci_branch": "main", "domain_name": "echo.example.com", "hosted_zone_name": "example.com",
    "alarm_email": "ops@example.com", "circleci_project_id": "5f6a7b8c-0000-4000-8000-00000000ef01",
    "secrets_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012",
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    "basic_auth_secret": "/echo/htpasswd", "image_source": "build", "ci_vcs_origin": "github.com/acme/echo-fargate",
    "log_kms_key": "create", "ecr_encryption": "kms",
}
# The settings some of them need beside them.
COMPANIONS = {"basic_auth_secret": ["image_source"], "circleci_org_id": ["circleci_project_id", "ci_vcs_origin"],
              "domain_name": ["hosted_zone_name"], "hosted_zone_name": ["domain_name"],
              "certificate_arn": ["domain_name"]}


@pytest.mark.parametrize("name", PATTERN_CHECKED)
def test_a_trailing_newline_from_cdk_json_is_refused(name):
    """cdk.json can hold "localhost:8080\n"; a pattern checked with re.match and `$` accepted it, and nginx then
    crash-looped on it (backend_host) or the OIDC trust matched no branch (ci_branch)."""
    companions = {other: PATTERN_CHECKED[other] for other in COMPANIONS.get(name, [])}
    Settings(**companions, **{name: PATTERN_CHECKED[name]})  # the value itself is fine
    with pytest.raises(ValueError, match=name):
        Settings(**companions, **{name: PATTERN_CHECKED[name] + "\n"})


def test_every_pattern_checked_setting_is_in_the_newline_test():
    import settings.model as model

    source = (ROOT / "settings" / "model.py").read_text()
    checked = {name for name in Settings.model_fields
               if re.search(rf"^    {name}: Annotated\[[^=]*AfterValidator\(_(?!fargate|log_retention)", source, re.M)}
    # Comma-separated lists strip each item, a trailing newline included.
    lists = {"ingress_cidrs", "ci_environments", "test_ingress_cidrs"}
    assert checked - lists <= set(PATTERN_CHECKED), "add a valid value to PATTERN_CHECKED"
    assert model  # the module the source was read from


@pytest.mark.parametrize("value", ["1_0", " 10", "10 ", "+1", "0x10", "1e1", True])
def test_whole_numbers_are_digits_only(value):
    with pytest.raises(ValueError, match="must be a valid integer"):
        Settings(desired_count=value)


def test_loopback_backends_are_accepted():
    for host in ("localhost:8080", "127.0.0.1:9000", "[::1]:8080"):
        assert Settings(backend_host=host).backend_host == host


def test_the_feature_flag_list_is_that_of_the_pinned_aws_cdk_lib():
    import json

    from settings.feature_flags import FLAGS_FILE
    from tools.feature_flags import flags_of_installed_cdk

    assert json.loads(FLAGS_FILE.read_text()) == flags_of_installed_cdk(), "run python -m tools.feature_flags"


def test_every_feature_flag_in_cdk_json_is_known():
    from settings.feature_flags import known_feature_flags

    assert {key for key in CDK_CONTEXT if key.startswith("@")} <= known_feature_flags()


@pytest.mark.parametrize("name", SHARED_SETTINGS)
def test_the_registrys_settings_are_refused_inside_one_environment(name):
    # One registry serves every environment of the account: a value in prod's block would be undone by dev's deploy.
    context = {**CDK_CONTEXT, "environments": {**CDK_CONTEXT["environments"], "prod": {name: "x"}}}
    with pytest.raises(SettingsError, match=rf"cdk.json environments.prod.{name}: the registry is shared by every "
                                            r"environment of the account; set .* once, at the top of cdk.json"):
        load_settings(context)


def test_a_bad_ecr_encryption_says_what_is_accepted():
    with pytest.raises(SettingsError, match=r"ecr_encryption=sse-kms: must be 'aes256', 'kms' \(the AWS managed key "
                                            r"aws/ecr\) or a KMS key ARN"):
        load_settings({**CDK_CONTEXT, "ecr_encryption": "sse-kms"})
