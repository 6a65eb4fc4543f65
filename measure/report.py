"""`make report`: what each environment costs a month, fixed and driven by traffic, and what a rolling deploy
waits on its load balancer, read from the synthesized templates, beside the same task run by a stock
`aws_ecs_patterns.ApplicationLoadBalancedFargateService` under the same traffic.

    .venv/bin/python -m measure.report                          # every environment, the default traffic profile
    .venv/bin/python -m measure.report --usage my-usage.toml    # your traffic (measure/default_usage.toml)
    .venv/bin/python -m measure.report --env dev --spot-discount 0.6

Everything is read from CloudFormation templates synthesized in this process (one jsii start-up): the
environments the way `cdk synth -c env=ENV` builds them, the stock pattern in its own throwaway App. Prices
come from measure/prices.py, each with its source; the fixed cost from measure/fixed_cost.py, what traffic
drives from measure/traffic_cost.py; every resource type is priced, free or named as not estimated
(measure/resource_kinds.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure.cost_lines import Cost
from measure.fargate_tasks import fargate_tasks
from measure.fixed_cost import fixed_cost
from measure.prices import PRICES
from measure.template_reading import (
    ELB_DEFAULT_DEREGISTRATION_DELAY,
    ELB_DEFAULT_HEALTHY_THRESHOLD,
    ELB_DEFAULT_INTERVAL,
    Template,
    TemplateError,
    attributes,
    n,
    number,
    plural,
    ref_id,
    resources,
)
from measure.traffic_cost import traffic_cost
from measure.usage import Profile, Usage, UsageError, load_usage

# jsii starts `node` from PATH: the one package.json pins (npm ci puts it in node_modules/.bin), as under make.
_PINNED_NODE_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin"
if (_PINNED_NODE_BIN / "node").exists():
    os.environ["PATH"] = os.pathsep.join([str(_PINNED_NODE_BIN), os.environ.get("PATH", "")])

ROOT = Path(__file__).resolve().parents[1]
DEV_GOAL_DOLLARS = 36.0
# The seed's task (section 3): what the stock pattern runs.
SEED_CONTAINERS = (
    # name, image, port, environment. nginx first: the pattern sends traffic to the first container.
    ("nginx", "stormcat24/nginx-proxy:latest", 80, {"BACKEND_HOST": "localhost:8080"}),
    ("echo", "stormcat24/echo:latest", 8080, {}),
)
STOCK_STACK = "stock-alb-fargate-service"
# The order of the report's rows.
FIXED_ORDER = ("Fargate", "Fargate Spot", "EC2/external capacity", "ALB hours", "Other load balancers",
               "NAT gateways", "Public IPv4", "Interface endpoints", "Gateway endpoints", "Other endpoints", "WAF",
               "CloudWatch alarms", "Composite alarms", "CloudWatch dashboards", "KMS keys", "Container Insights",
               "Not estimated", "Unclassified")
TRAFFIC_ORDER = ("ALB LCUs", "WAF requests", "Data transfer out", "NAT data processing", "Log ingestion",
                 "Log storage", "Access logs (S3)")

# --------------------------------------------------------------------------------------------- rollout wait

@dataclass(frozen=True)
class RolloutWait:
    """What one rolling deploy waits on one target group: new targets healthy, then old ones drained."""

    target_group: str
    interval: int
    healthy_threshold: int
    deregistration_delay: int

    @property
    def seconds(self) -> int:
        return self.interval * self.healthy_threshold + self.deregistration_delay

    def __str__(self) -> str:
        return (f"{self.interval} s x {self.healthy_threshold} checks + {self.deregistration_delay} s drain "
                f"= {self.seconds} s")


def rollout_waits(template: Template) -> list[RolloutWait]:
    """One entry per target group an ECS service registers with (all target groups if no service names one)."""
    groups = dict(resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup"))
    used: list[str] = []
    for _, service in resources(template, "AWS::ECS::Service"):
        for attachment in service.get("LoadBalancers") or []:
            advanced = attachment.get("AdvancedConfiguration") or {}  # ECS blue/green: the alternate group
            for arn in (attachment.get("TargetGroupArn"), advanced.get("AlternateTargetGroupArn")):
                logical_id = ref_id(arn)
                if logical_id in groups and logical_id not in used:
                    used.append(logical_id)
    waits = []
    for logical_id in used or list(groups):
        group = groups[logical_id]
        drain = attributes(group, "TargetGroupAttributes").get("deregistration_delay.timeout_seconds")
        waits.append(RolloutWait(
            target_group=logical_id,
            interval=int(number(template, group.get("HealthCheckIntervalSeconds"), ELB_DEFAULT_INTERVAL,
                                 f"{logical_id}.HealthCheckIntervalSeconds")),
            healthy_threshold=int(number(template, group.get("HealthyThresholdCount"),
                                          ELB_DEFAULT_HEALTHY_THRESHOLD, f"{logical_id}.HealthyThresholdCount")),
            deregistration_delay=int(number(template, drain, ELB_DEFAULT_DEREGISTRATION_DELAY,
                                             f"{logical_id} deregistration_delay.timeout_seconds")),
        ))
    return waits


def rollout_wait(template: Template) -> int:
    """Seconds a rolling deploy spends on the load balancer: interval x healthy threshold + deregistration delay
    of the service's target group (the longest, if it has several)."""
    waits = rollout_waits(template)
    if not waits:
        raise TemplateError("no AWS::ElasticLoadBalancingV2::TargetGroup in the template")
    return max(wait.seconds for wait in waits)


# --------------------------------------------------------------------------------------------- Fargate tasks

# --------------------------------------------------------------------------------------------- synthesis

def cdk_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


# prod cannot be synthesized without HTTPS and an image tag; what they are does not change a price (a public ACM
# certificate is free; the images are the same size whatever their tag).
SAMPLE_INPUTS = {"prod": {
    "certificate_arn": "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-4000-8000-000000000000",
    "domain_name": "echo.example.com", "image_tag": "sample",
}}


def synthesize_environment(env: str, outdir: Path) -> dict[str, dict]:
    """`cdk synth -c env=ENV` in this process (app.py's `main` on a fresh App): stack name → template; with the
    sample inputs an environment requires."""
    import aws_cdk as cdk

    import app as cdk_app

    # As the CDK CLI does from the AWS configuration (and tests/synth.py): a region, the price table's unless
    # one is set; no account, so no lookups.
    os.environ.setdefault("CDK_DEFAULT_REGION", PRICES.region)
    exit_code = cdk_app.main(cdk.App(context={**cdk_context(), "env": env, **SAMPLE_INPUTS.get(env, {})},
                                     outdir=str(outdir)))
    if exit_code != 0:
        raise RuntimeError(f"synth of {env} failed with exit code {exit_code}")
    return {path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(outdir.glob("*.template.json"))}


@functools.cache
def _stock_template_json(cpu: int, memory: int, desired_count: int) -> str:
    import aws_cdk as cdk
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_ecs_patterns as ecs_patterns

    # cdk.json's feature flags (what `cdk init` gives a new project), nothing of this app's settings.
    flags = {key: value for key, value in cdk_context().items() if key.startswith("@")}
    with tempfile.TemporaryDirectory(prefix="stock-pattern-") as outdir:
        app = cdk.App(context=flags, outdir=outdir)
        stack = cdk.Stack(app, STOCK_STACK)
        task = ecs.FargateTaskDefinition(stack, "Task", family="echo-task", cpu=cpu, memory_limit_mib=memory)
        for name, image, port, environment in SEED_CONTAINERS:
            task.add_container(name, image=ecs.ContainerImage.from_registry(image), environment=environment,
                               port_mappings=[ecs.PortMapping(container_port=port)],
                               logging=ecs.LogDrivers.aws_logs(stream_prefix=name))
        ecs_patterns.ApplicationLoadBalancedFargateService(stack, "Service", task_definition=task,
                                                           desired_count=desired_count)
        for warning in ("shouldUseCircuitBreaker", "minHealthyPercent"):
            cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(
                id=f"Annotation::@aws-cdk/aws-ecs:{warning}", reason="the stock pattern as shipped, for comparison"))
        app.synth()
        return (Path(outdir) / f"{STOCK_STACK}.template.json").read_text()


def stock_pattern_template(cpu: int, memory: int, desired_count: int) -> dict:
    """The seed's task in a stock ApplicationLoadBalancedFargateService (its default VPC, target group and
    deployment settings), synthesized in a fresh App to a temporary directory; once per process per size."""
    return json.loads(_stock_template_json(cpu, memory, desired_count))


# --------------------------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class Column:
    title: str
    fixed: Cost
    traffic: Cost
    waits: list[RolloutWait]

    @property
    def wait(self) -> int:
        return max(wait.seconds for wait in self.waits)

    @property
    def total(self) -> float:
        return self.fixed.total + self.traffic.total


def _own_stacks(templates: Mapping[str, dict]) -> list[str]:
    """The environment's own stacks: not the registry and CI access stacks, which all environments share."""
    from stacks.app_stacks import CI_ACCESS_STACK, REGISTRY_STACK

    return [name for name in templates if name not in (REGISTRY_STACK, CI_ACCESS_STACK)]


def _sum(costs: list[Cost]) -> Cost:
    total = Cost(())
    for cost in costs:
        total = total + cost
    return total


def _money(dollars: float | None) -> str:
    return "not estimated" if dollars is None else f"${dollars:,.2f}"


def _table(title: str, order: tuple[str, ...], costs: list[Cost], width: int) -> list[str]:
    names = sorted({line.name for cost in costs for line in cost.lines},
                   key=lambda name: (order.index(name) if name in order else len(order), name))
    out = [f"{title:<{width}} {'this app':>14} {'stock pattern':>14}"]
    for name in names:
        cells = []
        for cost in costs:
            line = next((line for line in cost.lines if line.name == name), None)
            cells.append("-" if line is None else _money(line.dollars))
        out.append(f"{name:<{width}} {cells[0]:>14} {cells[1]:>14}")
    out.append(f"{'Subtotal':<{width}} {_money(costs[0].total):>14} {_money(costs[1].total):>14}")
    return out


def environment_report(env: str, templates: Mapping[str, dict], usage: Usage,
                       spot_discount: float | None = None) -> tuple[str, Column]:
    """One environment beside the stock pattern under the same traffic: (text, this app's column)."""
    service_stack = f"echo-fargate-{env}"
    service = templates[service_stack]
    tasks = fargate_tasks(service)
    if not tasks:
        raise TemplateError(f"{service_stack}: no Fargate service")
    main_tasks = tasks[0]
    desired = math.ceil(main_tasks.count)
    stock = stock_pattern_template(main_tasks.cpu_units, main_tasks.memory_mib, desired)
    own = [templates[name] for name in _own_stacks(templates)]
    columns = [
        Column(f"this app ({', '.join(_own_stacks(templates))})",
               _sum([fixed_cost(t, spot_discount=spot_discount) for t in own]),
               _sum([traffic_cost(t, usage) for t in own]), rollout_waits(service)),
        Column("stock pattern", fixed_cost(stock, spot_discount=spot_discount), traffic_cost(stock, usage),
               rollout_waits(stock)),
    ]
    width = 32
    out = [f"== {env}: {service_stack} vs stock aws_ecs_patterns.ApplicationLoadBalancedFargateService "
           f"({n(main_tasks.vcpu)} vCPU, {n(main_tasks.gb)} GB, {plural(desired, 'task')}, the seed's two "
           "containers, the pattern's default VPC and target group) ==",
           f"traffic: {usage.requests_per_month / 1e6:.3g} million requests a month ({n(usage.requests_per_second)}/s "
           f"on average), {n(usage.request_bytes)} B in and {n(usage.response_bytes)} B out each, "
           f"{n(usage.new_connections_per_second)} new and {n(usage.active_connections)} active connections, "
           f"{n(usage.deploys_per_month)} deploys"]
    out += _table("fixed, per month (730 h)", FIXED_ORDER, [c.fixed for c in columns], width)
    out += _table("traffic-driven, per month", TRAFFIC_ORDER, [c.traffic for c in columns], width)
    out.append(f"{'Total':<{width}} {_money(columns[0].total):>14} {_money(columns[1].total):>14}")
    out.append(f"{'Rolling deploy wait on the ALB':<{width}} {f'{columns[0].wait} s':>14} "
               f"{f'{columns[1].wait} s':>14}")
    for column in columns:
        out.append(f"  {column.title}:")
        out += [f"    {line.name}: {line.quantity}" for line in (*column.fixed.lines, *column.traffic.lines)]
        out += [f"    rollout wait ({wait.target_group}): {wait}" for wait in column.waits]
    return "\n".join(out), columns[0]


def _rates(spot_discount: float | None) -> list[str]:
    if spot_discount is not None:
        spot = f"Fargate Spot: {spot_discount * 100:.1f} % off on-demand, as given (--spot-discount)"
    else:
        spot = "Fargate Spot: " + "; ".join(
            f"{rate.architecture} ${rate.vcpu_hour:.8g}/vCPU-h + ${rate.gb_hour:.8g}/GB-h on {rate.as_of} "
            f"({rate.discount(on_demand) * 100:.1f} % off)"
            for rate, on_demand in ((PRICES.spot_rate(False), PRICES.fargate_x86_vcpu_hour),
                                    (PRICES.spot_rate(True), PRICES.fargate_arm_vcpu_hour)))
        spot += f", from {PRICES.spot_rate(False).source}; AWS promises 'up to 70 %' and the rate floats"
    return [PRICES.source_line + " (measure/prices.py)", spot]


def report(environments: Mapping[str, Mapping[str, dict]], profile: Profile,
           spot_discount: float | None = None) -> str:
    """The whole report for {env: {stack name: template}} under `profile`."""
    out = [
        "Monthly cost and rolling-deploy wait, read from the synthesized CloudFormation templates",
        *_rates(spot_discount),
        f"Traffic: {profile.source}",
        "Fixed: what the stacks cost with no traffic at all (tasks at DesiredCount, or the autoscaling minimum; "
        "each internet-facing load balancer subnet one node with one public IPv4 address). Traffic-driven: what "
        "the profile's requests add, from monthly averages.",
        "Left out: free tiers, the shared registry and CI access stacks, and what each table names as not "
        "estimated.",
        f"Goal: dev total under ${DEV_GOAL_DOLLARS:.2f}/month.",
    ]
    dev = None
    for env, templates in environments.items():
        text, column = environment_report(env, templates, profile.usage[env], spot_discount)
        out += ["", text]
        dev = column if env == "dev" else dev
    if dev is not None:
        verdict = "met" if dev.total < DEV_GOAL_DOLLARS else f"NOT met, ${dev.total - DEV_GOAL_DOLLARS:.2f} over"
        out += ["", f"Goal dev < ${DEV_GOAL_DOLLARS:.2f}/month: dev costs ${dev.fixed.total:.2f} fixed + "
                f"${dev.traffic.total:.2f} for its traffic = ${dev.total:.2f}: {verdict}."]
    return "\n".join(out)


def _discount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give the fraction off, e.g. 0.68") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text}: the fraction off on-demand, from 0 up to (not including) 1, "
                                         "e.g. 0.68 for 68 % off")
    return value


def main(argv: list[str] | None = None) -> int:
    environments = list(cdk_context()["environments"])
    parser = argparse.ArgumentParser(prog="python -m measure.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=environments,
                        help="an environment from cdk.json (repeatable; default: all)")
    parser.add_argument("--usage", type=Path, help="a usage file (TOML) with your traffic; default: "
                        "measure/default_usage.toml")
    parser.add_argument("--spot-discount", type=_discount, help="Fargate Spot's fraction off on-demand, instead of "
                        "the dated rate in measure/prices.py (e.g. 0.6)")
    args = parser.parse_args(argv)
    try:
        profile = load_usage(args.usage, environments)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    synthesized = {}
    with tempfile.TemporaryDirectory(prefix="report-") as outdir:
        for env in args.env or environments:
            synthesized[env] = synthesize_environment(env, Path(outdir) / env)
    print(report(synthesized, profile, args.spot_discount))
    return 0


if __name__ == "__main__":
    sys.exit(main())
