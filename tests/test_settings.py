"""How settings are layered: defaults, then cdk.json's environment, then `-c` on the command line."""

from __future__ import annotations

import re

import pytest

from settings import Settings, SettingsError, load_settings
from tests.synth import CDK_CONTEXT, ROOT

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
    settings = load_settings({**CDK_CONTEXT, "env": "prod"})
    assert (settings.min_tasks, settings.max_tasks, settings.nat_gateways, settings.task_subnets) == (
        2, 6, 1, "private")
    assert (settings.container_insights, settings.waf) == (True, True)
    assert (settings.log_retention_days, settings.retain_logs, settings.termination_protection) == (365, True, True)
    assert settings.cpu == Settings().cpu


def test_command_line_strings_are_converted_and_win_over_the_environment():
    settings = load_settings({**CDK_CONTEXT, "env": "prod", "min_tasks": "3", "max_tasks": "9", "retain_logs": "false",
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


def test_readme_lists_every_setting_with_its_default():
    from tools.settings_table import settings_table

    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's settings table is stale: python -m tools.settings_table"
    rows = {line.split("|")[1].strip(" `"): [cell.strip() for cell in line.split("|")[2:5]]
            for line in readme.splitlines() if re.match(r"^\| `\w+` \|", line)}
    assert set(Settings.model_fields) <= set(rows)
    # default, dev, prod: the columns say what cdk.json says
    assert rows["spot"] == ["`0`", "`100`", ""]
    assert rows["monitoring"] == ["`true`", "`false`", ""]
    assert rows["min_tasks"] == ["`unset`", "", "`2`"]
