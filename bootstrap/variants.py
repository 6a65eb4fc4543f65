"""Every environment and variant of the app whose templates the execution policy must cover: one list, read by
the generator and by its tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The in-process synth the test suite uses: app.py's own `main` on a fresh App with cdk.json's context.
from tests.synth import ENVIRONMENTS, Synthesized, synthesize

# Make-believe ids, as the suite's fixtures (tests/conftest.py) use.
CIRCLECI_ORG, CIRCLECI_PROJECT = "1b2c3d4e-0000-4000-8000-00000000abcd", "5f6a7b8c-0000-4000-8000-00000000ef01"
DOCKER_HUB_SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/12345678-1234-1234-1234-123456789012"
IMAGE_TAG = "0a1b2c3d"
# A hosted-zone lookup needs an account; its answer given as cached context, as cdk.context.json would hold it.
LOOKUP_ACCOUNT = "111111111111"
ZONE_CONTEXT = {
    f"hosted-zone:account={LOOKUP_ACCOUNT}:domainName=example.com:region=us-east-1":
        {"Id": "/hostedzone/Z0123456789ABCDEFGHIJ", "Name": "example.com."},
    f"availability-zones:account={LOOKUP_ACCOUNT}:region=us-east-1": ["us-east-1a", "us-east-1b"],
}

# name -> (environment, -c overrides). Each feature that adds a resource type or a role permission is on in
# at least one. prod always gets a certificate and an image tag, which it requires.
PROD = {"certificate_arn": CERTIFICATE_ARN, "domain_name": "echo.example.com", "image_tag": IMAGE_TAG}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{env: (env, dict(PROD) if env == "prod" else {}) for env in ENVIRONMENTS},
    "built_images": ("dev", {"image_source": "build"}),
    "ecr_images": ("prod", {**PROD, "image_source": "ecr"}),
    "with_ci": ("prod", {**PROD, "circleci_org_id": CIRCLECI_ORG, "circleci_project_id": CIRCLECI_PROJECT,
                         "ci_vcs_origin": "github.com/acme/echo-fargate",
                         "docker_hub_secret_arn": DOCKER_HUB_SECRET}),
    "hardened": ("prod", {**PROD, "deployment_strategy": "blue_green", "bake_time_minutes": "10",
                          "image_source": "build", "cpu_architecture": "arm64", "alarm_email": "ops@example.com"}),
    # An issued, DNS-validated certificate and the alias record (ACM and Route 53 resources); dev, since prod's
    # required certificate_arn would replace the issued one.
    "issued_certificate": ("dev", {"domain_name": "echo.example.com", "hosted_zone_name": "example.com",
                                   **ZONE_CONTEXT}),
    # ECS Exec: the task role's ssmmessages actions.
    "exec": ("dev", {"enable_exec": "true"}),
    # The application's secrets: the execution role reads SSM and Secrets Manager and decrypts with a key;
    # a change redeploys (EventBridge rules, a Step Functions state machine, an SQS dead-letter queue).
    "secrets": ("dev", {"image_source": "build", "secrets": "API_TOKEN=/echo/api-token,DB=arn:aws:secretsmanager:"
                        "us-east-1:111111111111:secret:db:password", "basic_auth_secret": "/echo/htpasswd",
                        "secrets_kms_key_arn": "arn:aws:kms:us-east-1:111111111111:key/"
                        "12345678-1234-1234-1234-123456789012"}),
}
NEEDS_ACCOUNT = {"issued_certificate"}


@contextmanager
def _account(account: str | None) -> Iterator[None]:
    """CDK_DEFAULT_ACCOUNT for one synth only (app.py reads it from the environment), then as it was."""
    before = os.environ.get("CDK_DEFAULT_ACCOUNT")
    if account:
        os.environ["CDK_DEFAULT_ACCOUNT"] = account
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CDK_DEFAULT_ACCOUNT", None)
        else:
            os.environ["CDK_DEFAULT_ACCOUNT"] = before


def synthesize_variant(name: str, outdir: Path) -> Synthesized:
    env, overrides = VARIANTS[name]
    with _account(LOOKUP_ACCOUNT if name in NEEDS_ACCOUNT else None):
        return synthesize(env, outdir, **overrides)


def synthesize_all(root: Path | None = None) -> dict[str, Synthesized]:
    root = root or Path(tempfile.mkdtemp(prefix="bootstrap-variants-"))
    return {name: synthesize_variant(name, root / name) for name in VARIANTS}


def templates(variants: dict[str, Synthesized]) -> Iterator[tuple[str, str, dict]]:
    """(variant, stack name, template) for every stack of every variant."""
    for name, synthesized in variants.items():
        for stack, template in synthesized.templates.items():
            yield name, stack, template
