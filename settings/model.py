"""Every setting of the app: its type, default, allowed values and what it is for.

The defaults are the `dev` environment; `cdk.json` holds what `prod` changes. Each field's description
is what the README's settings table says about it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from settings import app_config, aws_limits

INTERNET = "0.0.0.0/0"
# Blocks broader than this are treated as the internet in disguise (a /8 is 16.7 million addresses).
MIN_INGRESS_PREFIX = 8

# A container image reference: [registry[:port]/]name[/name...][:tag][@sha256:digest]
_IMAGE_REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
_HOST_PORT = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})"
)
_SUCCESS_CODES = re.compile(r"[0-9]{3}(?:-[0-9]{3})?(?:,[0-9]{3}(?:-[0-9]{3})?)*")
_HEALTH_CHECK_PATH = re.compile(r"/[\x21-\x7e]*")
_VPC_ID = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# ECR pull-through cache credentials must live in a secret whose name starts with ecr-pullthroughcache/.
_PULL_THROUGH_SECRET = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+"
)
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,200}")
# CircleCI's oidc.circleci.com/vcs-origin: the repository as HOST/OWNER/NAME, e.g. github.com/acme/echo-fargate.
_VCS_ORIGIN = re.compile(r"[a-z0-9.-]+\.[a-z]{2,}/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,20}")
_CERTIFICATE_ARN = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INTEGER = re.compile(r"-?[0-9]+")



def _matching(pattern: re.Pattern[str], message: str):
    """A validator for an optional setting: unset passes, a value must match `pattern` whole."""
    def check(value: str | None) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(message)
        return value
    return check


def _image_reference(value: str) -> str:
    if not _IMAGE_REFERENCE.fullmatch(value):
        raise ValueError("must be an image reference such as 'stormcat24/echo:latest' or 'registry/name:tag'")
    return value


def _host_port(value: str) -> str:
    match = _HOST_PORT.fullmatch(value)
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. 'localhost:8080'")
    if not _is_loopback(match["host"]):
        # In awsvpc mode echo shares the task's network namespace: it is on localhost. Any other host would
        # make nginx a public proxy to it, e.g. to 169.254.170.2 (the task metadata endpoint, which hands out
        # the task role's credentials).
        raise ValueError("must name the echo container on the task's own localhost (localhost, 127.0.0.1 or "
                         "[::1]) with its port, e.g. 'localhost:8080'")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _whole_number(value: object) -> object:
    # pydantic's lax mode reads "1_0" as 10 and " 10 " as 10 (Python's int()); a setting is digits only.
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise ValueError("must be a valid integer (digits only, e.g. 2)")
        return int(value)
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("must be a valid integer (digits only, e.g. 2)")
    return value


def _health_check_path(value: str | None) -> str | None:
    if value is None:
        return value
    if len(value) > aws_limits.HEALTH_CHECK_PATH_MAX_LENGTH or not _HEALTH_CHECK_PATH.fullmatch(value):
        raise ValueError("must start with '/' and hold no spaces, at most 1024 characters, e.g. '/healthz'")
    return value


def _success_codes(value: str) -> str:
    low, high = aws_limits.HTTP_SUCCESS_CODE_RANGE
    ranges = [[int(code) for code in part.split("-")] for part in value.split(",")] \
        if _SUCCESS_CODES.fullmatch(value) else []
    codes = [code for codes in ranges for code in codes]
    if not codes or not all(low <= code <= high for code in codes) or any(r != sorted(r) for r in ranges):
        raise ValueError(f"must be HTTP codes from {low} to {high}, as '200', '200,302' or '200-299'")
    return value


def _comma_separated(value: object) -> object:
    # `-c ingress_cidrs=10.0.0.0/8,192.168.0.0/16` arrives as one string.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _ipv4_cidrs_or_none(value: tuple[str, ...]) -> tuple[str, ...]:
    return _ipv4_cidrs(value) if value else value


def _ipv4_cidrs(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one IPv4 CIDR, e.g. '203.0.113.0/24'")
    if duplicates := sorted({cidr for cidr in value if value.count(cidr) > 1}):
        raise ValueError(f"lists {', '.join(duplicates)} more than once (a security group refuses duplicate rules)")
    for cidr in value:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"'{cidr}' is not a CIDR block such as '203.0.113.0/24'") from None
        if str(network) != cidr:
            raise ValueError(f"'{cidr}' has host bits set; the block is '{network}'")
        if network.version != 4:
            raise ValueError(f"'{cidr}' is IPv6; the load balancer is IPv4-only")
    networks = [ipaddress.ip_network(cidr) for cidr in value]
    if value != (INTERNET,) and any(network.prefixlen == 0 for network in networks):
        raise ValueError(f"{INTERNET} opens the service to the whole internet: give it alone, not with other blocks")
    if value != (INTERNET,) and list(ipaddress.collapse_addresses(networks)) == [ipaddress.ip_network(INTERNET)]:
        # cdk-nag (and a reviewer) recognise 0.0.0.0/0; halves and quarters of it would pass unnoticed.
        raise ValueError(f"together these blocks cover every IPv4 address: write {INTERNET} to open the service "
                         "to the internet on purpose")
    if broad := [str(n) for n in networks if 0 < n.prefixlen < MIN_INGRESS_PREFIX]:
        raise ValueError(f"{', '.join(broad)} is broader than a /{MIN_INGRESS_PREFIX} (a sizeable part of the "
                         f"internet): name your networks, or write {INTERNET} to open the service on purpose")
    return value


def _empty_is_none(value: object) -> object:
    # `-c vpc_id=` clears a value the environment set.
    return None if value == "" else value


_vpc_id = _matching(_VPC_ID, "must be a VPC id such as 'vpc-0123456789abcdef0'")


_cluster_name = _matching(_CLUSTER_NAME, "must be 1-255 letters, digits, '-' or '_'")


_image_tag = _matching(
    _IMAGE_TAG, "must be an image tag: letters, digits, '_', '.', '-', at most 128, e.g. a commit SHA")


def _uuid(value: str | None) -> str | None:
    if value is not None and not _UUID.fullmatch(value.lower()):
        raise ValueError("must be a CircleCI id (a UUID such as 1b2c3d4e-0000-4000-8000-00000000abcd)")
    return value.lower() if value else value


_pull_through_secret = _matching(
    _PULL_THROUGH_SECRET, "must be the ARN of a Secrets Manager secret named ecr-pullthroughcache/..., "
                         "e.g. arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub")


_vcs_origin = _matching(_VCS_ORIGIN, "must name the repository as CircleCI's OIDC token does, HOST/OWNER/NAME, e.g. "
                                    "github.com/acme/echo-fargate")


def _environment_names(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must name at least one environment, e.g. 'dev,prod'")
    if bad := [name for name in value if not _ENVIRONMENT_NAME.fullmatch(name)]:
        raise ValueError(f"'{bad[0]}' is not an environment name (lower-case letters, digits and '-')")
    if duplicates := sorted({name for name in value if value.count(name) > 1}):
        raise ValueError(f"names {', '.join(duplicates)} more than once")
    return value


def _branch(value: str) -> str:
    if not _BRANCH.fullmatch(value) or ".." in value or value.startswith(("/", "-")):
        raise ValueError("must be a git branch name such as 'main'")
    return value


_certificate_arn = _matching(
    _CERTIFICATE_ARN, "must be an ACM certificate ARN, e.g. arn:aws:acm:us-east-1:123456789012:certificate/<uuid>")


def _domain(value: str | None) -> str | None:
    if value is not None and not _DOMAIN.fullmatch(value.lower().rstrip(".")):
        raise ValueError("must be a DNS name such as echo.example.com")
    return value.lower().rstrip(".") if value else value


_email = _matching(_EMAIL, "must be an email address")


def _basic_auth_source(value: str | None) -> str | None:
    if value is not None:
        app_config.parse_source(value)
    return value


_kms_key_arn = _matching(_KMS_KEY_ARN, "must be a KMS key ARN, e.g. arn:aws:kms:us-east-1:123456789012:key/<uuid>")


# log_kms_key: one key this app creates, or the ARN of one the team keeps.
CREATE_KEY = "create"


def _log_kms_key(value: str | None) -> str | None:
    if value is not None and value != CREATE_KEY and not _KMS_KEY_ARN.fullmatch(value):
        raise ValueError(f"must be '{CREATE_KEY}' (a key made for this stack) or a KMS key ARN, e.g. "
                         "arn:aws:kms:us-east-1:123456789012:key/<uuid>")
    return value


def _ecr_encryption(value: str) -> str:
    if value not in ("aes256", "kms") and not _KMS_KEY_ARN.fullmatch(value):
        raise ValueError("must be 'aes256', 'kms' (the AWS managed key aws/ecr) or a KMS key ARN")
    return value


def _log_retention(value: int) -> int:
    if value not in aws_limits.LOG_RETENTION_DAYS:
        allowed = ", ".join(str(days) for days in aws_limits.LOG_RETENTION_DAYS)
        raise ValueError(f"must be a CloudWatch Logs retention: {allowed}")
    return value


def _fargate_cpu(value: int) -> int:
    if value not in aws_limits.FARGATE_MEMORY_BY_CPU:
        allowed = ", ".join(str(cpu) for cpu in aws_limits.FARGATE_MEMORY_BY_CPU)
        raise ValueError(f"must be a Fargate CPU size: {allowed}")
    return value


ImageReference = Annotated[str, AfterValidator(_image_reference)]
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
OptionalName = Annotated[str | None, BeforeValidator(_empty_is_none)]


class Settings(BaseModel):
    """One environment's validated settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field("dev", description="Environment profile from `cdk.json` (`dev`, `prod`).")
    cpu: Annotated[WholeNumber, AfterValidator(_fargate_cpu)] = Field(
        256, description="Task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384."
    )
    memory: WholeNumber = Field(
        512, description="Task memory (MiB); must be a Fargate size for `cpu` (256 → 512, 1024, 2048)."
    )
    desired_count: WholeNumber = Field(1, ge=0, le=100, description="Tasks kept running (0-100).")
    image_source: Literal["public", "build", "ecr"] = Field(
        "public",
        description="`public`: `echo_image` and `nginx_image` (the seed's); `build`: this repository's "
        "`services/` built by `cdk deploy`; `ecr`: this repository's images from ECR at `image_tag`.",
    )
    image_tag: Annotated[OptionalName, AfterValidator(_image_tag)] = Field(
        None, description="Tag of the ECR images (required with `image_source=ecr`), e.g. the commit SHA."
    )
    echo_image: ImageReference = Field(
        "stormcat24/echo:latest", description="Image of the `echo` container with `image_source=public`."
    )
    nginx_image: ImageReference = Field(
        "stormcat24/nginx-proxy:latest", description="Image of the `nginx` container with `image_source=public`."
    )
    echo_environment: Annotated[
        dict[str, str], BeforeValidator(lambda v: app_config.parse_mapping(v, "echo_environment")),
        AfterValidator(app_config.check_environment),
    ] = Field({}, description="Extra environment variables of the echo container (the application): a mapping in "
              "cdk.json, `NAME=VALUE,NAME=VALUE` with `-c`. Not for credentials: use `secrets`.")
    secrets: Annotated[
        dict[str, str], BeforeValidator(lambda v: app_config.parse_mapping(v, "secrets")),
        AfterValidator(app_config.check_secrets),
    ] = Field({}, description="Variables of the echo container read from AWS at task start: NAME to an SSM "
              "parameter name (`/echo/api-token`) or a Secrets Manager secret ARN with an optional `:json-key`; "
              "the execution role may read exactly these.")
    secrets_kms_key_arn: Annotated[OptionalName, AfterValidator(_kms_key_arn)] = Field(
        None, description="Customer managed KMS key the secrets are encrypted with: the execution role may "
        "decrypt with it (and no other key)."
    )
    basic_auth_secret: Annotated[OptionalName, AfterValidator(_basic_auth_source)] = Field(
        None, description="htpasswd lines (`user:hash`) in an SSM parameter or a Secrets Manager secret (the "
        "`secrets` syntax): nginx then asks for HTTP basic authentication on every path but its health paths. "
        "For a dev or staging environment that must not be public; needs this repository's images.")
    redeploy_on_secret_change: bool = Field(
        True, description="When one of `secrets` or `basic_auth_secret` changes in AWS, start a new deployment of "
        "the service (ECS reads secrets only at task start). Secrets Manager changes arrive only with a "
        "CloudTrail trail in the account (docs/settings.md).")
    backend_host: Annotated[str, AfterValidator(_host_port)] = Field(
        "localhost:8080", description="`BACKEND_HOST` given to nginx: where it forwards (`host:port`)."
    )
    health_check_path: Annotated[OptionalName, AfterValidator(_health_check_path)] = Field(
        None,
        description="Path the load balancer's health check requests; unset: `/healthz` with this repository's "
        "images (nginx asks echo), `/` with the public ones (they have no health path).",
    )
    health_check_success_codes: Annotated[str, AfterValidator(_success_codes)] = Field(
        "200", description="HTTP codes that count as healthy: `200`, `200,302`, `200-299` (200-499)."
    )
    health_check_interval: WholeNumber = Field(10, ge=5, le=300, description="Seconds between health checks (5-300).")
    health_check_timeout: WholeNumber = Field(
        5, ge=2, le=120, description="Seconds before a health check fails (2-120, less than the interval)."
    )
    healthy_threshold: WholeNumber = Field(
        2, ge=2, le=10, description="Passing checks before a target is healthy (2-10)."
    )
    unhealthy_threshold: WholeNumber = Field(
        2, ge=2, le=10, description="Failing checks before a target is unhealthy (2-10)."
    )
    deregistration_delay: WholeNumber = Field(
        10, ge=0, le=3600, description="Seconds a stopping target keeps draining connections (0-3600)."
    )
    health_check_grace_period: WholeNumber = Field(
        60, ge=0, le=3600, description="Seconds ECS ignores load balancer health checks after a task starts (0-3600)."
    )
    ingress_cidrs: Annotated[
        tuple[str, ...], BeforeValidator(_comma_separated), AfterValidator(_ipv4_cidrs)
    ] = Field(("0.0.0.0/0",), description="IPv4 CIDRs allowed to reach the load balancer on its listener ports "
              "(80, and 443 with HTTPS; comma-separated).")
    log_retention_days: Annotated[WholeNumber, AfterValidator(_log_retention)] = Field(
        30, description="Days CloudWatch keeps container logs (a CloudWatch retention value: 1, 3, 5, 7, 14, 30, ...)."
    )
    retain_logs: bool = Field(False, description="Keep the log groups when the stack is deleted.")
    log_kms_key: Annotated[OptionalName, AfterValidator(_log_kms_key)] = Field(
        None, description="Customer managed KMS key for every log group of the stack (containers, flow logs, WAF, "
        "release gate): `create` (one key with yearly rotation, about $1 a month, usable by CloudWatch Logs for "
        "this stack's log groups only), a key ARN whose policy lets CloudWatch Logs use it, or unset (CloudWatch "
        "Logs' own encryption).")
    max_azs: WholeNumber = Field(
        2, ge=2, le=6, description="Availability zones of a new VPC (2-6; the load balancer needs 2)."
    )
    nat_gateways: WholeNumber = Field(0, ge=0, le=6, description="NAT gateways of a new VPC (0 to `max_azs`).")
    task_subnets: Literal["public", "private"] = Field(
        "public",
        description="`public`: tasks get a public IP to pull images (no NAT needed); "
        "`private`: behind NAT, no public IP.",
    )
    vpc_id: Annotated[OptionalName, AfterValidator(_vpc_id)] = Field(
        None,
        description="Use this existing VPC instead of creating one (looked up once, cached in `cdk.context.json`).",
    )
    cluster_name: Annotated[OptionalName, AfterValidator(_cluster_name)] = Field(
        None, description="Physical ECS cluster name; unset lets CloudFormation generate one."
    )
    termination_protection: bool = Field(
        False, description="Protect the stack from `cdk destroy`, and its load balancer from deletion."
    )
    allow_http: bool = Field(
        True, description="Serve plain HTTP when no `domain_name` is given; prod refuses to unless this is `true`."
    )
    allow_hotswap: bool = Field(
        True, description="`make deploy-fast` may hotswap this environment's task definition (seconds instead of "
        "a CloudFormation deploy; the stack then differs from CloudFormation's record until the next `make "
        "deploy`); prod refuses to unless this is `true`."
    )
    allow_public_images: bool = Field(
        True, description="Run the seed's public images (`image_source=public`: mutable tags, root, no health "
        "checks); prod refuses to unless this is `true`."
    )
    min_tasks: WholeNumber | None = Field(
        None, ge=1, le=100, description="Autoscaling floor (1-100; with `max_tasks`); unset: a fixed `desired_count`."
    )
    max_tasks: WholeNumber | None = Field(
        None, ge=1, le=100, description="Autoscaling ceiling (1-100, at least `min_tasks`)."
    )
    scale_cpu_percent: WholeNumber = Field(60, ge=10, le=90, description="Autoscaling target: average CPU % (10-90).")
    scale_requests_per_task: WholeNumber = Field(
        1000, ge=10, le=100000, description="Autoscaling target: load balancer requests per task per minute."
    )
    certificate_arn: Annotated[OptionalName, AfterValidator(_certificate_arn)] = Field(
        None, description="ACM certificate for HTTPS; unset and no `domain_name`: HTTP only."
    )
    domain_name: Annotated[OptionalName, AfterValidator(_domain)] = Field(
        None, description="Serve HTTPS at this name: a DNS-validated certificate (unless `certificate_arn`) and "
        "an alias record in `hosted_zone_name`."
    )
    hosted_zone_name: Annotated[OptionalName, AfterValidator(_domain)] = Field(
        None, description="Route 53 public zone holding `domain_name` (looked up once, cached in cdk.context.json)."
    )
    monitoring: bool = Field(True, description="Alarms (ALB and target 5xx, unhealthy hosts, p99 latency, CPU, "
                             "memory) to an SNS topic, the release alarms as ECS deployment alarms, a dashboard.")
    alarm_email: Annotated[OptionalName, AfterValidator(_email)] = Field(
        None, description="Subscribe this address to the alarm topic."
    )
    deployment_strategy: Literal["rolling", "blue_green"] = Field(
        "rolling", description="`rolling`, or ECS-native `blue_green` (alternate target group, listener rule, bake)."
    )
    bake_time_minutes: WholeNumber = Field(
        5, ge=0, le=1440, description="Blue/green: minutes the new tasks take all traffic before the old go (0-1440)."
    )
    test_listener_port: WholeNumber | None = Field(
        None, ge=1024, le=65535, description="Blue/green: the load balancer's test listener, through which ECS "
        "sends test traffic to the new tasks before production's (1024-65535; unset: 8443 with HTTPS, else 8080)."
    )
    test_ingress_cidrs: Annotated[
        tuple[str, ...], BeforeValidator(_comma_separated), AfterValidator(_ipv4_cidrs_or_none)
    ] = Field((), description="Blue/green: IPv4 CIDRs that may reach the test listener besides the release gate "
              "(comma-separated; unset: none).")
    gate_requests: WholeNumber = Field(
        20, ge=1, le=50, description="Blue/green: requests the release gate sends to the new tasks through the test "
        "listener, one after another, before production traffic moves (1-50; each may take 2 s)."
    )
    gate_p99_ms: WholeNumber = Field(
        500, ge=1, le=2000, description="Blue/green: the release gate fails the deployment (ECS rolls back) when "
        "the p99 latency of its requests is above this many milliseconds (1-2000, a request's own limit)."
    )
    gate_expect_body: str = Field(
        "Hello Docker!!", min_length=1, max_length=200, description="Blue/green: the body the release gate expects "
        "from every request (the application's answer on `/`), trailing newline aside."
    )
    cpu_architecture: Literal["x86_64", "arm64"] = Field(
        "x86_64", description="Task CPU architecture; `arm64` (20 % cheaper) needs this repository's images."
    )
    spot: WholeNumber = Field(
        0, ge=0, le=100, description="Percent of tasks on FARGATE_SPOT (0-100; x86_64 and arm64 alike, about 68 % "
        "cheaper in us-east-1 as `make report` dates it, may be interrupted)."
    )
    container_insights: bool = Field(False, description="CloudWatch Container Insights on the cluster (billed per "
                                     "metric).")
    enable_exec: bool = Field(False, description="ECS Exec: shell access to running containers, through SSM "
                              "(`make exec`); with this repository's read-only images the agent gets writable task "
                              "storage at its three paths.")
    access_logs: bool = Field(True, description="Load balancer access logs to an encrypted, TLS-only, retained "
                              "bucket that expires them after `log_retention_days`.")
    flow_logs: bool = Field(True, description="VPC flow logs to CloudWatch Logs (a VPC this app creates).")
    waf: bool = Field(False, description="AWS WAF on the load balancer with AWS managed rule groups and a "
                      "per-address rate limit (about $9 a month).")
    waf_rate_limit: WholeNumber = Field(
        2000, ge=10, le=2_000_000_000, description="WAF: requests one IP address may send in 5 minutes before it is "
        "blocked (10-2000000000)."
    )
    ecr_keep_tagged_images: WholeNumber = Field(
        30, ge=1, le=1000, description="Tagged images each ECR repository keeps, newest first (1-1000); "
        "untagged ones expire after a day."
    )
    ecr_keep_releases: WholeNumber = Field(
        10, ge=2, le=1000, description="Released images (tagged `release-...` by the pipeline once deployed and "
        "verified) each ECR repository keeps whatever else expires (2-1000): the running one and those before it."
    )
    ecr_encryption: Annotated[str, AfterValidator(_ecr_encryption)] = Field(
        "aes256", description="Encryption of the ECR repositories: `aes256` (S3-managed keys), `kms` (the AWS "
        "managed key aws/ecr, no monthly fee) or a KMS key ARN. Fixed when the repositories are created: choose "
        "before the registry's first deploy (docs/compliance.md)."
    )
    docker_hub_secret_arn: Annotated[OptionalName, AfterValidator(_pull_through_secret)] = Field(
        None, description="Secret (`ecr-pullthroughcache/...`) with Docker Hub credentials: adds an ECR "
        "pull-through cache rule for Docker Hub under `docker-hub/`."
    )
    circleci_org_id: Annotated[OptionalName, AfterValidator(_uuid)] = Field(
        None, description="CircleCI organization id; unset: no CI access stack."
    )
    circleci_project_id: Annotated[OptionalName, AfterValidator(_uuid)] = Field(
        None, description="CircleCI project id: only this project's pipeline may assume the CI roles."
    )
    ci_branch: Annotated[str, AfterValidator(_branch)] = Field(
        "main", description="The one branch whose pipeline may push images and deploy."
    )
    ci_vcs_origin: Annotated[OptionalName, AfterValidator(_vcs_origin)] = Field(
        None, description="The repository the pipeline builds, as CircleCI's OIDC token names it "
        "(`github.com/OWNER/REPO`): the CI roles trust no other one. Required with `circleci_org_id`."
    )
    ci_environments: Annotated[
        tuple[str, ...], BeforeValidator(_comma_separated), AfterValidator(_environment_names)
    ] = Field(("dev", "prod"), description="The environments the pipeline deploys, in order (comma-separated): "
              "each gets a deploy role that may deploy only its own service stack.")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = []
        allowed_memory = aws_limits.FARGATE_MEMORY_BY_CPU.get(self.cpu, ())
        if self.memory not in allowed_memory:
            problems.append(
                f"memory={self.memory}: with cpu={self.cpu} Fargate allows "
                f"{aws_limits.describe_memory_choices(allowed_memory)} MiB"
            )
        if self.health_check_timeout >= self.health_check_interval:
            problems.append(
                f"health_check_timeout={self.health_check_timeout}: must be less than "
                f"health_check_interval ({self.health_check_interval})"
            )
        if self.vpc_id is None and self.nat_gateways > self.max_azs:
            problems.append(f"nat_gateways={self.nat_gateways}: at most one per AZ (max_azs={self.max_azs})")
        if self.vpc_id is None and self.task_subnets == "private" and self.nat_gateways == 0:
            problems.append(
                "task_subnets=private: tasks in private subnets need nat_gateways of 1 or more to pull images"
            )
        if (self.min_tasks is None) != (self.max_tasks is None):
            problems.append("min_tasks/max_tasks: set both for autoscaling, or neither for a fixed desired_count")
        elif self.min_tasks is not None and self.min_tasks > self.max_tasks:
            problems.append(f"min_tasks={self.min_tasks}: must not exceed max_tasks ({self.max_tasks})")
        if self.domain_name and not self.hosted_zone_name and not self.certificate_arn:
            problems.append("domain_name: needs hosted_zone_name (the Route 53 zone for its certificate and alias "
                            "record), or certificate_arn if its DNS is elsewhere")
        if self.certificate_arn and not self.domain_name:
            problems.append("certificate_arn: needs domain_name, the name the certificate is for (the load "
                            "balancer's own DNS name would not match it)")
        if self.min_tasks is not None and "desired_count" in self.model_fields_set:
            problems.append(f"desired_count={self.desired_count}: not used when min_tasks/max_tasks autoscale the "
                            "service; set min_tasks and max_tasks instead")
        if self.hosted_zone_name and not self.domain_name:
            problems.append("hosted_zone_name: only used with domain_name")
        if self.domain_name and self.hosted_zone_name and not (
                self.domain_name == self.hosted_zone_name or self.domain_name.endswith("." + self.hosted_zone_name)):
            problems.append(f"domain_name={self.domain_name}: is not in hosted_zone_name ({self.hosted_zone_name})")
        if self.cpu_architecture == "arm64" and self.image_source == "public":
            problems.append("cpu_architecture=arm64: the seed's public images are amd64 only; use image_source=build "
                            "or ecr")
        if self.alarm_email and not self.monitoring:
            problems.append("alarm_email: needs monitoring=true (there is no alarm topic without it)")
        if self.circleci_org_id and not self.ci_vcs_origin:
            problems.append("ci_vcs_origin: required with circleci_org_id, so that the CI roles trust this repository "
                            "only, e.g. -c ci_vcs_origin=github.com/OWNER/REPO")
        if self.circleci_org_id and not self.circleci_project_id:
            problems.append("circleci_project_id: required with circleci_org_id, so that only this project's "
                            "pipeline can assume the CI role")
        if both := sorted(set(self.echo_environment) & set(self.secrets)):
            problems.append(f"secrets: {', '.join(both)} also in echo_environment; give each variable one source")
        if self.basic_auth_secret and not self.own_images:
            problems.append("basic_auth_secret: needs this repository's nginx image (image_source=build or ecr); the "
                            "public nginx-proxy image has no basic authentication")
        if self.image_source == "ecr" and self.image_tag is None:
            problems.append("image_tag: required with image_source=ecr, e.g. -c image_tag=$(git rev-parse HEAD) for "
                            "images the pipeline pushed (or -c image_source=build to build them here)")
        if self.image_source == "public" and not self.allow_public_images:
            problems.append(f"image_source=public: {self.env} runs this repository's images, not the seed's public "
                            "ones (mutable :latest tags, root, no health checks): give -c image_source=ecr -c "
                            "image_tag=<a tag the pipeline pushed>, or -c image_source=build; -c "
                            "allow_public_images=true runs the public images on purpose")
        if not self.https and not self.allow_http:
            problems.append(f"env={self.env} would serve plain HTTP: give -c domain_name=... with -c "
                            "hosted_zone_name=... (or -c certificate_arn=...), or -c allow_http=true to serve HTTP on "
                            "purpose")
        rules = len(self.ingress_cidrs) * (2 if self.https else 1)
        if rules > aws_limits.SECURITY_GROUP_INBOUND_RULES:
            problems.append(f"ingress_cidrs: {len(self.ingress_cidrs)} blocks x {rules // len(self.ingress_cidrs)} "
                            f"listener port(s) = {rules} inbound rules, more than the "
                            f"{aws_limits.SECURITY_GROUP_INBOUND_RULES} a security group holds (AWS's default quota); "
                            "merge blocks or use a prefix list")
        if self.deployment_strategy == "blue_green":
            problems += self._blue_green_problems()
        elif "test_listener_port" in self.model_fields_set or self.test_ingress_cidrs:
            problems.append("test_listener_port/test_ingress_cidrs: only used with deployment_strategy=blue_green")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _blue_green_problems(self) -> list[str]:
        problems = []
        if self.vpc_id is None and self.nat_gateways == 0:
            problems.append("deployment_strategy=blue_green: the release gate reaches the test listener from the VPC's "
                            "private subnets through a NAT gateway, and the load balancer admits that gateway's "
                            "address; give nat_gateways=1 (about $33 a month) or use deployment_strategy=rolling")
        if self.vpc_id is not None and not self.test_ingress_cidrs:
            problems.append("deployment_strategy=blue_green with vpc_id: give the public addresses of that VPC's NAT "
                            "gateways in test_ingress_cidrs (a.b.c.d/32): the release gate reaches the test listener "
                            "through them")
        rules = len(self.ingress_cidrs) * (2 if self.https else 1) + len(self.test_ingress_cidrs) + self.nat_gateways
        if rules > aws_limits.SECURITY_GROUP_INBOUND_RULES:
            problems.append(f"test_ingress_cidrs: the load balancer's security group would need {rules} inbound rules, "
                            f"more than the {aws_limits.SECURITY_GROUP_INBOUND_RULES} it holds")
        return problems

    @property
    def secret_sources(self) -> dict[str, app_config.SecretSource]:
        return {name: app_config.parse_source(source) for name, source in self.secrets.items()}

    @property
    def basic_auth_source(self) -> app_config.SecretSource | None:
        return app_config.parse_source(self.basic_auth_secret) if self.basic_auth_secret else None

    @property
    def own_images(self) -> bool:
        """This repository's images (built or from ECR): they have health commands and a /healthz path."""
        return self.image_source != "public"

    @property
    def autoscaling(self) -> bool:
        return self.min_tasks is not None

    @property
    def https(self) -> bool:
        return bool(self.certificate_arn or self.domain_name)

    @property
    def test_port(self) -> int:
        """Blue/green's test listener port: the setting, or 8443 with HTTPS and 8080 without."""
        return self.test_listener_port or (8443 if self.https else 8080)

    @property
    def target_health_check_path(self) -> str:
        return self.health_check_path or ("/healthz" if self.own_images else "/")

    @property
    def load_balancer_rollout_wait(self) -> int:
        """Seconds a rolling deploy waits on the load balancer: new target healthy, then old one drained."""
        return self.health_check_interval * self.healthy_threshold + self.deregistration_delay

    @classmethod
    def setting_names(cls) -> list[str]:
        return list(cls.model_fields)
