# The front door. Every target installs what it needs first, so a fresh clone needs nothing by hand.
SHELL := /bin/bash
ENV ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := npx --no-install cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help install synth diff deploy destroy test test-fast lint bench-synth clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed  ## Create the virtualenv and install Python and npm dependencies

synth: install  ## Synthesize ENV (default dev) into cdk.out
	$(CDK) synth -c env=$(ENV) -q
	@echo "Templates for $(ENV) are in cdk.out/"

diff: install  ## Show what a deploy of ENV would change in your AWS account
	$(CDK) diff -c env=$(ENV)

deploy: install  ## Deploy ENV to your AWS account (needs credentials and a bootstrapped account)
	$(CDK) deploy -c env=$(ENV) --all

destroy: install  ## Delete ENV's stacks from your AWS account
	$(CDK) destroy -c env=$(ENV) --all

test: install  ## Run the whole test suite, integration tests included
	$(BIN)/ruff check .
	$(BIN)/pytest

test-fast: install  ## The suite without the integration tests
	$(BIN)/pytest -m "not integration"

lint: install  ## ruff over the Python code
	$(BIN)/ruff check .

bench-synth: install  ## Time `cdk synth` of this app against an empty CDK app (medians)
	$(BIN)/python bench/synth_bench.py

clean:  ## Remove build output (keeps the virtualenv)
	rm -rf cdk.out .pytest_cache
