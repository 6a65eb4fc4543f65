"""The CircleCI delivery pipeline (.circleci/config.yml): valid for CircleCI's schema, jobs in the right order on
the right branches, images tagged with the commit and pushed once, AWS reached only through the OIDC role.

Reusable commands are expanded with their parameters, as CircleCI compiles them, before a job's shell is
inspected; the shell itself goes through shellcheck.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".circleci" / "config.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
CONTEXT = "echo-fargate-aws"
AWS_JOBS = {"diff", "build-push", "deploy"}
# Service directory -> ECR repository, as the registry stack names them.
IMAGES = {"services/echo": "echo-fargate/echo", "services/nginx-proxy": "echo-fargate/nginx-proxy"}
PARAMETER = re.compile(r"<<\s*parameters\.([\w-]+)\s*>>")


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
    """The one workflow's jobs by name, each with its invocation options ({} for a bare name)."""
    (workflow,) = config["workflows"].values()
    jobs = {}
    for entry in workflow["jobs"]:
        name, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        jobs[name] = options or {}
    return jobs


def expand(config: dict[str, Any], steps: list[Any], arguments: dict[str, Any] | None = None) -> list[tuple]:
    """A job's steps with reusable commands inlined: ("run", name, command), ("command", name) markers where a
    reusable command starts (with its arguments), or (step type, options) for built-in steps."""
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
        else:
            expanded.append((name, options))
    return expanded


def _fill(text: str, arguments: dict[str, Any] | None) -> str:
    return PARAMETER.sub(lambda match: str((arguments or {})[match.group(1)]), text)


def commands(config: dict[str, Any], job: str) -> list[str]:
    return [step[2] for step in expand(config, config["jobs"][job]["steps"]) if step[0] == "run"]


def step_index(config: dict[str, Any], job: str, predicate) -> int:
    steps = expand(config, config["jobs"][job]["steps"])
    return next(i for i, step in enumerate(steps) if predicate(step))


def invokes(name: str):
    return lambda step: step[0] == "command" and step[1] == name


def runs(fragment: str):
    return lambda step: step[0] == "run" and fragment in step[2]


def test_the_config_is_valid_for_circleci_schema():
    result = schema_check(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def _drop_version(config):
    del config["version"]


def _misspell_executor(config):
    config["executors"]["ubuntu"]["machin"] = config["executors"]["ubuntu"].pop("machine")


def _misspell_filter(config):
    diff = next(entry["diff"] for entry in config["workflows"]["delivery"]["jobs"] if "diff" in entry)
    diff["filters"]["branches"] = {"ignor": "main"}


@pytest.mark.parametrize(("break_it", "where"), [
    (_drop_version, "'version' is a required property"),
    (_misspell_executor, "$.executors.ubuntu"),
    (_misspell_filter, "$.workflows.delivery.jobs"),
], ids=["version missing", "unknown executor key", "misspelt branch filter"])
def test_the_schema_check_rejects_a_broken_copy(config, tmp_path, break_it, where):
    broken = yaml.safe_load(yaml.safe_dump(config))
    break_it(broken)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    result = schema_check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert where in result.stdout


def test_version_jobs_and_one_workflow(config):
    assert str(config["version"]) == "2.1"
    assert {"test", "diff", "build-push", "deploy"} <= set(config["jobs"])
    assert list(config["workflows"]) == ["delivery"]


def test_job_order(workflow):
    assert set(workflow) == {"test", "diff", "build-push", "deploy"}
    assert "requires" not in workflow["test"]
    assert workflow["diff"]["requires"] == ["test"]
    assert workflow["build-push"]["requires"] == ["test"]
    assert workflow["deploy"]["requires"] == ["build-push"]


def _branches(options: dict[str, Any]) -> dict[str, set[str]]:
    """A job's branch filter, a name or a list of names alike: {"only"|"ignore": names}."""
    assert set(options["filters"]) == {"branches"}, "tags would need their own filter"
    return {kind: {names} if isinstance(names, str) else set(names)
            for kind, names in options["filters"]["branches"].items()}


def test_branch_filters(workflow):
    assert "filters" not in workflow["test"], "test runs on every branch"
    assert _branches(workflow["diff"]) == {"ignore": {"main"}}
    assert _branches(workflow["build-push"]) == {"only": {"main"}}
    assert _branches(workflow["deploy"]) == {"only": {"main"}}


def test_deploys_do_not_overlap(workflow):
    assert workflow["deploy"]["serial-group"].strip()


def test_the_test_job_runs_make_test_and_keeps_its_results(config):
    assert "make test" in commands(config, "test")
    results = next(step[1] for step in expand(config, config["jobs"]["test"]["steps"])
                   if step[0] == "store_test_results")
    assert "--junitxml=test-results/" in config["jobs"]["test"]["environment"]["PYTEST_ADDOPTS"]
    assert results["path"] == "test-results"


def test_every_job_runs_on_an_amd64_machine(config):
    executor = config["executors"]["ubuntu"]
    assert executor["machine"]["image"].startswith("ubuntu-2204:")
    assert not executor.get("resource_class", "medium").startswith("arm")
    assert {job["executor"] for job in config["jobs"].values()} == {"ubuntu"}


def test_deploy_deploys_this_commits_images_to_prod_then_verifies(config):
    scripts = commands(config, "deploy")
    (deploy,) = [script for script in scripts if script.startswith("make deploy")]
    verify = scripts[scripts.index(deploy) + 1]
    assert deploy.startswith("make deploy ENV=prod ")
    cdk_args = re.fullmatch(r'make deploy ENV=prod CDK_ARGS="([^"]*)"', deploy).group(1).split()
    assert "-c image_source=ecr" in " ".join(cdk_args)
    assert "-c image_tag=$CIRCLE_SHA1" in " ".join(cdk_args)
    assert "--require-approval never" in " ".join(cdk_args), "nobody can answer cdk's prompt in CI"
    # make verify reads with CDK's read-only lookup role, not with the deploy role's own rights.
    assert verify.splitlines()[-1] == "make verify ENV=prod"
    assert "cdk-hnb659fds-lookup-role-" in verify


def test_the_makefile_forwards_cdk_args_where_the_pipeline_passes_them():
    recipes = {}
    for block in re.split(r"\n(?=[a-z-]+:)", (ROOT / "Makefile").read_text()):
        target = block.split(":", 1)[0]
        recipes[target] = block
    for target in ("deploy", "diff"):
        assert re.search(r"\$\(CDK\) " + target + r"\b.*\$\(CDK_ARGS\)", recipes[target]), target
    assert "operate.verify --stack echo-fargate-$(ENV)" in recipes["verify"]


def test_diff_is_read_only_and_shows_what_main_would_deploy(config):
    (diff,) = [command for command in commands(config, "diff") if command.startswith("make diff")]
    assert diff.startswith("make diff ENV=prod ")
    assert "--method template" in diff, "a change set would need the deploy role"
    assert "-c image_source=ecr -c image_tag=$CIRCLE_SHA1" in diff


def test_both_images_are_built_for_amd64_tagged_with_the_commit_and_pushed(config):
    steps = expand(config, config["jobs"]["build-push"]["steps"])
    pushed = {step[2]["directory"]: step[2]["repository"] for step in steps if invokes("push-image")(step)}
    assert pushed == IMAGES
    script = "\n".join(commands(config, "build-push"))
    for directory, repository in IMAGES.items():
        assert f'repository="{repository}"' in script
        assert f'--tag "$image" "{directory}"' in script
    assert 'image="$ECR_REGISTRY/$repository:$CIRCLE_SHA1"' in script
    assert 'docker build --platform linux/amd64 --tag "$image"' in script
    assert 'docker push "$image"' in script


def test_the_repositories_are_the_registry_stacks():
    tree = ast.parse((ROOT / "stacks" / "registry.py").read_text())
    (names,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(target, "id", None) == "REPOSITORY_NAMES" for target in node.targets)]
    assert set(names.values()) == set(IMAGES.values())


def test_an_image_already_in_ecr_is_not_pushed_again(config):
    (push,) = {step[2] for step in expand(config, config["commands"]["push-image"]["steps"],
                                          {"directory": "services/echo", "repository": "echo-fargate/echo"})
               if step[0] == "run"}
    lookup = push.index('aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$CIRCLE_SHA1"')
    skip = push.index("if pushed; then")
    assert lookup < skip < push.index("exit 0") < push.index("docker build") < push.index("docker push")
    assert 'docker push "$image" || pushed' in push, "losing a race to the same immutable tag is not a failure"
    assert "|| exit 1" in push, "an AWS error must not read as 'already pushed'"


def test_ecr_login_uses_the_role_and_stdin(config):
    assume = step_index(config, "build-push", invokes("assume-ci-role"))
    login = step_index(config, "build-push", runs("docker login"))
    first_push = step_index(config, "build-push", invokes("push-image"))
    assert assume < login < first_push
    (script,) = [command for command in commands(config, "build-push") if "docker login" in command]
    assert 'aws ecr get-login-password --region "$AWS_REGION"' in script
    assert re.search(r'\|\s*docker login --username AWS --password-stdin "\$registry"', script)
    assert 'registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"' in script


def test_the_role_is_assumed_with_the_oidc_token_v2(config):
    (assume,) = [step[2] for step in expand(config, config["commands"]["assume-ci-role"]["steps"],
                                            {"role-arn-env": "AWS_ROLE_ARN"}) if step[0] == "run"]
    assert "aws sts assume-role-with-web-identity" in assume
    assert '--role-arn "$AWS_ROLE_ARN"' in assume
    assert '--role-session-name "circleci-$CIRCLE_WORKFLOW_ID"' in assume
    assert '--web-identity-token "$CIRCLE_OIDC_TOKEN_V2"' in assume
    assert "--duration-seconds 3600" in assume
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert re.search(rf"echo \"export {variable}='\$\w+'\"", assume), variable
    assert '} >> "$BASH_ENV"' in assume


def test_each_aws_job_uses_the_context_and_its_role(config, workflow):
    roles = {}
    for job in config["jobs"]:
        steps = expand(config, config["jobs"][job]["steps"])
        roles[job] = [step[2]["role-arn-env"] for step in steps if invokes("assume-ci-role")(step)]
    assert roles == {"test": [], "diff": ["AWS_DIFF_ROLE_ARN"], "build-push": ["AWS_ROLE_ARN"],
                     "deploy": ["AWS_ROLE_ARN"]}
    with_context = {job for job, options in workflow.items() if options.get("context") in (CONTEXT, [CONTEXT])}
    assert with_context == AWS_JOBS, "the OIDC token and the role ARNs come with the context"


@pytest.mark.parametrize(("job", "aws_use"), [
    ("diff", "make diff"), ("build-push", "aws ecr"), ("deploy", "make deploy"), ("deploy", "make verify")])
def test_the_role_is_assumed_before_aws_is_used(config, job, aws_use):
    assert step_index(config, job, invokes("assume-ci-role")) < step_index(config, job, runs(aws_use))


def test_no_stored_credentials(config, text):
    for forbidden in ("DOCKER_PASS", "DOCKER_USER", "AWS_SECRET_ACCESS_KEY=$", "AWS_SECRET_ACCESS_KEY: ",
                      "aws configure set", "aws_secret_access_key", "docker login -u", "docker login -p"):
        assert forbidden not in text, forbidden
    assert not re.search(r"CIRCLE_OIDC_TOKEN(?!_V2)", text), "the V1 token's subject does not name the branch"
    for job in config["jobs"].values():
        assert not {name for name in job.get("environment", {}) if name.startswith("AWS_")}
    # The one place credentials are written: the values read from the STS answer, into $BASH_ENV.
    (assume,) = [step[2] for step in expand(config, config["commands"]["assume-ci-role"]["steps"],
                                            {"role-arn-env": "AWS_ROLE_ARN"}) if step[0] == "run"]
    read_from_sts = re.search(r"read -r (\w+) (\w+) (\w+) < <\(printf '%s\\n' \"\$credentials\"\)", assume)
    assert read_from_sts and "credentials=$(aws sts assume-role-with-web-identity" in assume
    assignments = re.findall(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=(\S+)", text)
    assert sorted(assignments) == sorted([
        ("ACCESS_KEY_ID", f"'${read_from_sts.group(1)}'\""),
        ("SECRET_ACCESS_KEY", f"'${read_from_sts.group(2)}'\""),
        ("SESSION_TOKEN", f"'${read_from_sts.group(3)}'\""),
    ])


def _requirement_files(path: Path) -> set[str]:
    """path and every file it includes with -r, relative to the repository root."""
    files = {path.relative_to(ROOT).as_posix()}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            files |= _requirement_files(path.parent / line[3:].strip())
    return files


def test_the_caches_are_keyed_on_the_lock_files(config):
    restored = [step[1]["keys"] for step in expand(config, config["commands"]["restore-dependencies"]["steps"])
                if step[0] == "restore_cache"]
    saved = {step[1]["paths"][0]: step[1]["key"] for step in expand(config, config["commands"]["save-dependencies"]
                                                                  ["steps"]) if step[0] == "save_cache"}
    assert set(saved) == {".venv", "node_modules"}
    assert sorted(restored) == sorted([[key] for key in saved.values()]), "exact keys, no stale fallback"
    checksummed = {name: set(re.findall(r'checksum "([^"]+)"', key)) for name, key in saved.items()}
    assert checksummed[".venv"] == {"requirements.lock", "requirements-uv.lock", "/tmp/python-version"}
    assert checksummed["node_modules"] == {"package.json", "package-lock.json"}
    assert all((ROOT / name).is_file() for names in checksummed.values() for name in names if name[0] != "/")


@pytest.mark.parametrize("job", ["test", "diff", "deploy"])
def test_jobs_that_run_make_pick_the_toolchain_first(config, job):
    toolchain = step_index(config, job, invokes("use-toolchain"))
    assert toolchain < step_index(config, job, runs("make "))
    if job == "test":
        assert toolchain < step_index(config, job, invokes("restore-dependencies"))


def test_no_job_that_holds_aws_credentials_runs_cached_dependencies(config, workflow):
    """Every branch's test job writes the caches; a job with a role must never run what they hold (the review's
    cache poisoning finding): it restores no cache and installs from the lock files' hashes."""
    def assumes_a_role(job):
        return any(step[:2] == ("command", "assume-ci-role") for step in expand(config, config["jobs"][job]["steps"]))
    with_role = {job for job in config["jobs"] if assumes_a_role(job) or "context" in workflow.get(job, {})}
    assert with_role == AWS_JOBS
    for job in config["jobs"]:
        kinds = {step[0] for step in expand(config, config["jobs"][job]["steps"])}
        if job in with_role:
            assert not kinds & {"restore_cache", "save_cache", "attach_workspace"}, job
        scripts = "\n".join(commands(config, job))
        assert "touch" not in scripts or job not in with_role, f"{job} marks something as installed"
    # Only the test job touches the caches, and it never holds a role.
    cached = {job for job in config["jobs"]
              if {"restore_cache", "save_cache"} & {step[0] for step in expand(config, config["jobs"][job]["steps"])}}
    assert cached == {"test"}


def test_make_installs_python_packages_from_hashes_and_node_packages_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    # uv by pip from its own hashes, then everything else by uv from the lock's hashes.
    (pip_line,) = [line for line in makefile.splitlines() if "pip install" in line and "-r " in line]
    assert "--require-hashes" in pip_line and "-r requirements-uv.lock" in pip_line
    (uv_line,) = [line for line in makefile.splitlines() if "uv pip sync" in line]
    assert "--require-hashes" in uv_line and uv_line.rstrip().endswith(" requirements.lock")
    uv_pins = [line for line in (ROOT / "requirements-uv.lock").read_text().splitlines() if line.startswith("uv==")]
    assert uv_pins and uv_pins[0].endswith("\\"), "uv pinned with hashes"
    assert "npm ci" in makefile  # package-lock.json's integrity hashes
    lock = (ROOT / "requirements.lock").read_text()
    pins = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert pins and all("==" in pin and pin.endswith("\\") for pin in pins), "every package pinned with hashes"
    direct = {line.split("==")[0].split("[")[0].lower() for name in _requirement_files(ROOT / "requirements-dev.txt")
              for line in (ROOT / name).read_text().splitlines() if "==" in line and not line.startswith("#")}
    assert direct <= {pin.split("==")[0].lower() for pin in pins}, "make lock: the lock misses a requirement"


def test_parameters_are_the_only_angle_bracket_expressions(config, text):
    # CircleCI reads any << ... >> as an expression: a shell here-string or here-doc would break compilation.
    declared = {name for command in config["commands"].values() for name in command.get("parameters", {})}
    assert set(PARAMETER.findall(text)) <= declared
    assert "<<" not in PARAMETER.sub("", text)


def test_every_run_step_passes_shellcheck(config, tmp_path):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck comes with `make install` (Debian package)"
    scripts = [command for job in config["jobs"] for command in commands(config, job)]
    assert len(scripts) > 10
    for number, script in enumerate(scripts):
        path = tmp_path / f"step-{number}.sh"
        path.write_text(script)
        # CircleCI runs steps with bash -eo pipefail. The files they source exist only on the CI machine.
        result = subprocess.run([shellcheck, "--shell=bash", "--exclude=SC1090,SC1091", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout


def test_a_verified_deploy_tags_both_images_as_releases_the_registry_keeps(config):
    from stacks.registry import RELEASE_TAG_PREFIX

    steps = expand(config, config["jobs"]["deploy"]["steps"])
    verify = step_index(config, "deploy", runs("make verify"))
    marked = [(index, step[2]["repository"]) for index, step in enumerate(steps)
              if step[:2] == ("command", "mark-released")]
    assert sorted(repository for _, repository in marked) == sorted(IMAGES.values())
    assert all(index > verify for index, _ in marked), "only a verified deployment is a release"
    script = "\n".join(commands(config, "deploy"))
    assert f'release="{RELEASE_TAG_PREFIX}$CIRCLE_SHA1"' in script
    assert "aws ecr put-image" in script and '--image-tag "$release"' in script


@pytest.mark.parametrize("job", ["deploy", "diff"])
def test_the_pipelines_prod_settings_need_only_the_domain_the_setup_names(config, job):
    """prod refuses plain HTTP and needs an image tag: the job gives the tag; the domain is the one setup step
    (docs/pipeline.md) that cdk.json must gain. Without it the settings say exactly that."""
    from settings import SettingsError, load_settings
    from tests.synth import CDK_CONTEXT

    (script,) = [s for s in commands(config, job) if s.startswith(("make deploy", "make diff"))]
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


NODE_CHOOSERS = re.compile(r"\bnvm\b|\bnodenv\b|\bvolta\b|\bfnm\b|\bn\s+\d|nodesource|setup_\d+\.x"
                           r"|apt(-get)?\s+install[^\n]*\bnodejs\b|\bnode/install\b|circleci/node", re.IGNORECASE)


def test_ci_chooses_no_node_of_its_own_and_runs_the_one_package_json_pins(config, text):
    """The Node that runs cdk and jsii is package.json's (installed by npm ci, first on make's PATH), the same as on
    a laptop: CI installs or selects no other (no nvm, no node orb, no NodeSource), and calls cdk only through make."""
    assert "orbs" not in config
    assert not NODE_CHOOSERS.search(text), NODE_CHOOSERS.search(text).group(0)
    scripts = [script for job in config["jobs"] for script in commands(config, job)]
    shell_lines = [line.strip() for script in scripts for line in script.splitlines()
                   if line.strip() and not line.strip().startswith("#")]
    # Any Node it prints is the pinned one, and cdk runs only under make (never npx or a global cdk).
    assert all(re.sub(r"node_modules/\.bin/node --version", "", line).find("node ") == -1 for line in shell_lines)
    assert not [line for line in shell_lines if re.match(r"(npx|cdk|npm)\b", line)]
    assert "node_modules/.bin/node --version" in "\n".join(commands(config, "test"))
    makefile = (ROOT / "Makefile").read_text()
    assert "export PATH := $(CURDIR)/node_modules/.bin:$(PATH)" in makefile.splitlines()
    assert "CDK := $(CURDIR)/node_modules/.bin/cdk" in makefile.splitlines()
