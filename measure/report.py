"""Monthly cost and rolling-deploy wait of each environment, read from the synthesized templates, beside the
same task run by a stock `aws_ecs_patterns.ApplicationLoadBalancedFargateService`.

    .venv/bin/python -m measure.report            # every environment in cdk.json
    .venv/bin/python -m measure.report --env dev --lcu 0.2

Everything is read from CloudFormation templates synthesized in this process (one jsii start-up): the
environments the way `cdk synth -c env=ENV` builds them, the stock pattern in its own throwaway App. Prices
come from measure/prices.py. Usage-driven charges (NAT and endpoint data processing, log ingestion, data
transfer, WAF requests) are named but not estimated.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure.prices import HOURS_PER_MONTH, PRICES, Prices

# jsii starts `node` from PATH: the one package.json pins (npm ci puts it in node_modules/.bin), as under make.
_PINNED_NODE_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin"
if (_PINNED_NODE_BIN / "node").exists():
    os.environ["PATH"] = os.pathsep.join([str(_PINNED_NODE_BIN), os.environ.get("PATH", "")])

ROOT = Path(__file__).resolve().parents[1]
DEV_GOAL_DOLLARS = 36.0
DEFAULT_LCU = 1.0
# Elastic Load Balancing's defaults when the template leaves them out: 30 s x 5 checks, 300 s drain.
ELB_DEFAULT_INTERVAL, ELB_DEFAULT_HEALTHY_THRESHOLD, ELB_DEFAULT_DEREGISTRATION_DELAY = 30, 5, 300
# When a list of subnets cannot be counted in the template (an import, a parameter), assume this many AZs.
ASSUMED_AZS = 2
# The seed's task (section 3): what the stock pattern runs.
SEED_CONTAINERS = (
    # name, image, port, environment. nginx first: the pattern sends traffic to the first container.
    ("nginx", "stormcat24/nginx-proxy:latest", 80, {"BACKEND_HOST": "localhost:8080"}),
    ("echo", "stormcat24/echo:latest", 8080, {}),
)
STOCK_STACK = "stock-alb-fargate-service"
# The order of the report's rows (monthly_cost emits its lines in this order too).
LINE_ORDER = ("Fargate", "Fargate Spot", "EC2/external capacity", "ALB hours", "ALB LCUs", "Other load balancers",
              "NAT gateways", "Public IPv4", "Interface endpoints", "Gateway endpoints", "Other endpoints", "WAF",
              "CloudWatch alarms", "Composite alarms", "CloudWatch dashboards", "KMS keys", "Container Insights",
              "Logs", "Other, not priced")

Template = Mapping[str, Any]


class TemplateError(ValueError):
    """The template holds something the report cannot read (e.g. a number given as an intrinsic function)."""


# --------------------------------------------------------------------------------------------- template access

def _resources(template: Template, resource_type: str) -> list[tuple[str, dict]]:
    """(logical id, Properties) of every resource of one type."""
    return [
        (logical_id, resource.get("Properties") or {})
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    ]


def _ref_id(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` points at, else None."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
        if isinstance(get_att, str):
            return get_att.split(".", 1)[0]
    return None


def _number(template: Template, value: Any, default: float, what: str) -> float:
    """A number from the template: absent → default; a literal or a string; a Ref to a parameter's Default."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise TemplateError(f"{what}: expected a number, found {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    parameter = (template.get("Parameters") or {}).get(_ref_id(value) or "", {})
    if isinstance(value, dict) and "Ref" in value and "Default" in parameter:
        return _number(template, parameter["Default"], default, what)
    raise TemplateError(f"{what}: cannot read a number from {value!r}")


def _count(value: Any) -> int | None:
    """Length of a literal list in the template, None when it is an intrinsic (unknown until deploy)."""
    return len(value) if isinstance(value, list) else None


def _attributes(properties: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {item.get("Key"): item.get("Value") for item in properties.get(key) or [] if isinstance(item, dict)}


def _n(value: float) -> str:
    """1 → '1', 0.5 → '0.5', 1.3333 → '1.33'."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _plural(count: float, word: str, plural: str | None = None) -> str:
    return f"{_n(count)} {word if count == 1 else plural or word + 's'}"


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
    groups = dict(_resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup"))
    used: list[str] = []
    for _, service in _resources(template, "AWS::ECS::Service"):
        for attachment in service.get("LoadBalancers") or []:
            advanced = attachment.get("AdvancedConfiguration") or {}  # ECS blue/green: the alternate group
            for arn in (attachment.get("TargetGroupArn"), advanced.get("AlternateTargetGroupArn")):
                logical_id = _ref_id(arn)
                if logical_id in groups and logical_id not in used:
                    used.append(logical_id)
    waits = []
    for logical_id in used or list(groups):
        group = groups[logical_id]
        drain = _attributes(group, "TargetGroupAttributes").get("deregistration_delay.timeout_seconds")
        waits.append(RolloutWait(
            target_group=logical_id,
            interval=int(_number(template, group.get("HealthCheckIntervalSeconds"), ELB_DEFAULT_INTERVAL,
                                 f"{logical_id}.HealthCheckIntervalSeconds")),
            healthy_threshold=int(_number(template, group.get("HealthyThresholdCount"),
                                          ELB_DEFAULT_HEALTHY_THRESHOLD, f"{logical_id}.HealthyThresholdCount")),
            deregistration_delay=int(_number(template, drain, ELB_DEFAULT_DEREGISTRATION_DELAY,
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

@dataclass(frozen=True)
class FargateTasks:
    """One ECS service's tasks, as the template sizes and places them."""

    service: str
    count: float
    count_source: str
    cpu_units: int
    memory_mib: int
    arm: bool
    spot_tasks: float
    public_ip: bool
    notes: tuple[str, ...] = ()

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024

    @property
    def gb(self) -> float:
        return self.memory_mib / 1024

    @property
    def on_demand_tasks(self) -> float:
        return self.count - self.spot_tasks


def _task_size(value: Any, unit: str, what: str) -> int:
    """A task size as ECS accepts it, in its 1024ths: '256' → 256, '0.25 vCPU' → 256 (unit 'vcpu'),
    '512' → 512, '0.5 GB' → 512 (unit 'gb')."""
    text = str(value).strip().lower()
    try:
        return round(float(text.removesuffix(unit).strip()) * 1024) if text.endswith(unit) else int(float(text))
    except ValueError as error:
        raise TemplateError(f"{what}: cannot read the task size from {value!r}") from error


def _task_count(template: Template, service_id: str, service: Mapping[str, Any]) -> tuple[float, str]:
    """DesiredCount; without it the autoscaling target's MinCapacity; without either ECS's default of 1."""
    targets = [
        target for _, target in _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
        if target.get("ServiceNamespace") == "ecs" and f'"{service_id}"' in json.dumps(target.get("ResourceId"))
    ]
    scaling = ""
    if targets:
        low = _number(template, targets[0].get("MinCapacity"), 1, f"{service_id} MinCapacity")
        high = _number(template, targets[0].get("MaxCapacity"), low, f"{service_id} MaxCapacity")
        scaling = f"autoscaling {_n(low)}-{_n(high)}"
    if service.get("DesiredCount") is not None:
        count = _number(template, service["DesiredCount"], 1, f"{service_id}.DesiredCount")
        return count, "DesiredCount" + (f"; {scaling}, priced at the desired count" if scaling else "")
    if targets:
        return low, f"{scaling}, priced at the minimum"
    return 1, "no DesiredCount: ECS starts 1"


def _capacity_strategy(template: Template, service: Mapping[str, Any]) -> list[dict]:
    """The service's capacity provider strategy, else its cluster's default (none with a launch type)."""
    if service.get("CapacityProviderStrategy"):
        return list(service["CapacityProviderStrategy"])
    if service.get("LaunchType"):
        return []
    cluster = _ref_id(service.get("Cluster"))
    for _, association in _resources(template, "AWS::ECS::ClusterCapacityProviderAssociations"):
        if _ref_id(association.get("Cluster")) == cluster and association.get("DefaultCapacityProviderStrategy"):
            return list(association["DefaultCapacityProviderStrategy"])
    for cluster_id, properties in _resources(template, "AWS::ECS::Cluster"):
        if cluster_id == cluster and properties.get("DefaultCapacityProviderStrategy"):
            return list(properties["DefaultCapacityProviderStrategy"])
    return []


def spot_tasks(strategy: Iterable[Mapping[str, Any]], count: float) -> float:
    """Tasks on FARGATE_SPOT: each provider's Base first, the rest split by Weight (a fraction is a share)."""
    items = [(str(item.get("CapacityProvider")), float(item.get("Base") or 0), float(item.get("Weight") or 0))
             for item in strategy]
    spot, remaining = 0.0, float(count)
    for provider, base, _ in items:
        placed = min(base, remaining)
        remaining -= placed
        spot += placed if provider == "FARGATE_SPOT" else 0
    total_weight = sum(weight for _, _, weight in items)
    if total_weight > 0:
        spot += remaining * sum(w for p, _, w in items if p == "FARGATE_SPOT") / total_weight
    return spot


def fargate_tasks(template: Template) -> list[FargateTasks]:
    """Every ECS service of the template that runs on Fargate (launch type or capacity providers)."""
    task_definitions = dict(_resources(template, "AWS::ECS::TaskDefinition"))
    found = []
    for service_id, service in _resources(template, "AWS::ECS::Service"):
        strategy = _capacity_strategy(template, service)
        providers = {str(item.get("CapacityProvider")) for item in strategy}
        launch_type = service.get("LaunchType") or ("FARGATE" if not strategy or providers & {"FARGATE",
                                                                                             "FARGATE_SPOT"} else "")
        if launch_type != "FARGATE":
            continue
        task_id = _ref_id(service.get("TaskDefinition"))
        task = task_definitions.get(task_id or "")
        if task is None:
            raise TemplateError(f"{service_id}: its task definition is not in this template")
        count, source = _task_count(template, service_id, service)
        architecture = str((task.get("RuntimePlatform") or {}).get("CpuArchitecture") or "X86_64").upper()
        system = str((task.get("RuntimePlatform") or {}).get("OperatingSystemFamily") or "LINUX").upper()
        notes = []
        if system != "LINUX":
            notes.append(f"{system}: Windows licence fee not priced")
        storage = (task.get("EphemeralStorage") or {}).get("SizeInGiB")
        if storage and _number(template, storage, 20, f"{task_id} EphemeralStorage") > 20:
            notes.append(f"ephemeral storage above 20 GiB ({storage} GiB) not priced")
        network = (service.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
        found.append(FargateTasks(
            service=service_id, count=count, count_source=source,
            cpu_units=_task_size(task.get("Cpu"), "vcpu", f"{task_id}.Cpu"),
            memory_mib=_task_size(task.get("Memory"), "gb", f"{task_id}.Memory"),
            arm=architecture == "ARM64",
            spot_tasks=spot_tasks(strategy, count),
            public_ip=str(network.get("AssignPublicIp", "DISABLED")).upper() == "ENABLED",
            notes=tuple(notes),
        ))
    return found


# --------------------------------------------------------------------------------------------- monthly cost

@dataclass(frozen=True)
class CostLine:
    name: str
    quantity: str  # what was counted, at which price, and what is left out
    dollars: float | None  # per month; None: named but not estimated


@dataclass(frozen=True)
class Cost:
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.dollars for line in self.lines if line.dollars is not None)

    def line(self, name: str) -> CostLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(f"no cost line {name!r}; lines: {[line.name for line in self.lines]}")

    def dollars(self, name: str) -> float:
        """A line's dollars; 0 when the line is absent or not estimated."""
        return next((line.dollars or 0.0 for line in self.lines if line.name == name), 0.0)

    def __add__(self, other: Cost) -> Cost:
        """Lines of both, those with the same name merged (their dollars summed)."""
        merged: dict[str, CostLine] = {line.name: line for line in self.lines}
        for line in other.lines:
            if line.name in merged:
                mine = merged[line.name]
                dollars = None if mine.dollars is None and line.dollars is None else \
                    (mine.dollars or 0.0) + (line.dollars or 0.0)
                merged[line.name] = CostLine(line.name, f"{mine.quantity}; {line.quantity}", dollars)
            else:
                merged[line.name] = line
        return Cost(tuple(merged.values()))


def _fargate_lines(tasks: list[FargateTasks], prices: Prices) -> list[CostLine]:
    on_demand, spot = [], []
    several = len(tasks) > 1
    for service in tasks:
        vcpu_price = prices.fargate_arm_vcpu_hour if service.arm else prices.fargate_x86_vcpu_hour
        gb_price = prices.fargate_arm_gb_hour if service.arm else prices.fargate_x86_gb_hour
        per_task = (service.vcpu * vcpu_price + service.gb * gb_price) * HOURS_PER_MONTH
        size = (f"(${per_task:.2f} = ({_n(service.vcpu)} vCPU x ${vcpu_price} + {_n(service.gb)} GB x ${gb_price})"
                f" x {HOURS_PER_MONTH} h, {'ARM64' if service.arm else 'x86_64'})")
        who = f"{service.service}: " if several else ""
        notes = "".join(f"; {note}" for note in service.notes)
        if service.on_demand_tasks > 0 or not service.spot_tasks:
            share = f" of {_n(service.count)}" if service.spot_tasks else ""
            on_demand.append((f"{who}{_plural(service.on_demand_tasks, 'task')}{share} ({service.count_source}) x "
                              f"{size}{notes}", service.on_demand_tasks * per_task))
        if service.spot_tasks:
            discount = prices.fargate_spot_discount
            spot.append((f"{who}{_plural(service.spot_tasks, 'task')} of {_n(service.count)} on FARGATE_SPOT "
                         f"({service.count_source}) x {size} x {1 - discount:.2f} (Spot is 'up to "
                         f"{discount * 100:.0f} % off'; assumed the full {discount * 100:.0f} %)"
                         + ("; check that Fargate Spot offers ARM64 in the region" if service.arm else ""),
                         service.spot_tasks * per_task * (1 - discount)))
    return [CostLine(name, "; ".join(text for text, _ in parts), sum(dollars for _, dollars in parts))
            for name, parts in (("Fargate", on_demand), ("Fargate Spot", spot)) if parts]


def _load_balancer_nodes(properties: Mapping[str, Any]) -> tuple[int, str]:
    """Public IPv4 addresses of one load balancer: one per subnet (AZ) when internet-facing with IPv4."""
    if str(properties.get("Scheme", "internet-facing")) == "internal":
        return 0, ""
    if properties.get("IpAddressType") == "dualstack-without-public-ipv4":
        return 0, ""
    subnets = _count(properties.get("Subnets")) if "Subnets" in properties else _count(
        properties.get("SubnetMappings"))
    if subnets is None:
        return ASSUMED_AZS, f" (subnets not countable in the template: assumed {ASSUMED_AZS})"
    return subnets, ""


def monthly_cost(template: Template, *, prices: Prices = PRICES, lcu: float = DEFAULT_LCU) -> Cost:
    """The template's monthly bill (730 h), line by line, at `prices`; `lcu`: the ALB's assumed average LCUs."""
    hours = HOURS_PER_MONTH
    lines: list[CostLine] = []

    tasks = fargate_tasks(template)
    lines += _fargate_lines(tasks, prices)
    for service_id, _ in _resources(template, "AWS::ECS::Service"):
        if service_id not in {t.service for t in tasks}:
            lines.append(CostLine("EC2/external capacity", f"{service_id}: instances not priced", None))

    load_balancers = _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    albs = [lb for lb in load_balancers if lb[1].get("Type", "application") == "application"]
    others = [lb for lb in load_balancers if lb[1].get("Type", "application") != "application"]
    if albs:
        lines.append(CostLine("ALB hours", f"{_plural(len(albs), 'load balancer')} x {hours} h x ${prices.alb_hour}",
                              len(albs) * hours * prices.alb_hour))
        lines.append(CostLine(
            "ALB LCUs", f"assumed {_n(lcu)} LCU on average x {_plural(len(albs), 'load balancer')} x {hours} h x "
            f"${prices.alb_lcu_hour} (1 LCU: 25 new connections/s, 3,000 active, 1 GB/h, 1,000 rule evaluations/s)",
            len(albs) * lcu * hours * prices.alb_lcu_hour))
    if others:
        kinds = ", ".join(sorted({str(lb[1].get("Type")) for lb in others}))
        lines.append(CostLine("Other load balancers", f"{len(others)} x {kinds}: not in the price table", None))

    nat_gateways = _resources(template, "AWS::EC2::NatGateway")
    if nat_gateways:
        lines.append(CostLine(
            "NAT gateways", f"{_plural(len(nat_gateways), 'gateway')} x {hours} h x ${prices.nat_gateway_hour}; "
            f"data processing (${prices.nat_gateway_gb}/GB) excluded", len(nat_gateways) * hours *
            prices.nat_gateway_hour))

    task_ips = sum(service.count for service in tasks if service.public_ip)
    public_nats = [nat for nat in nat_gateways if str(nat[1].get("ConnectivityType", "public")) != "private"]
    nat_eips = {_ref_id(nat.get("AllocationId")) for _, nat in public_nats}
    other_eips = [eip for eip, _ in _resources(template, "AWS::EC2::EIP") if eip not in nat_eips]
    lb_ips, lb_note = 0, ""
    for _, properties in load_balancers:
        nodes, note = _load_balancer_nodes(properties)
        lb_ips, lb_note = lb_ips + nodes, lb_note or note
    addresses = task_ips + len(public_nats) + len(other_eips) + lb_ips
    if addresses:
        parts = [f"{_n(task_ips)} for tasks with AssignPublicIp", f"{len(public_nats)} for NAT gateways",
                 f"{lb_ips} for load balancer nodes (one per subnet){lb_note}"]
        if other_eips:
            parts.append(f"{len(other_eips)} other Elastic IPs")
        lines.append(CostLine("Public IPv4", f"{_n(addresses)} ({', '.join(parts)}) x {hours} h x "
                              f"${prices.public_ipv4_hour}", addresses * hours * prices.public_ipv4_hour))

    endpoints = _resources(template, "AWS::EC2::VPCEndpoint")
    interface = [e for _, e in endpoints if e.get("VpcEndpointType", "Gateway") == "Interface"]
    if interface:
        counted = [_count(e.get("SubnetIds")) for e in interface]
        azs = sum(ASSUMED_AZS if c is None else c for c in counted)
        assumed = f" (subnets not countable for {counted.count(None)}: assumed {ASSUMED_AZS} AZs)" \
            if None in counted else ""
        lines.append(CostLine("Interface endpoints", f"{_plural(len(interface), 'endpoint')}, {azs} endpoint-AZs"
                              f"{assumed} x {hours} h x ${prices.interface_endpoint_az_hour}; data processing "
                              "excluded", azs * hours * prices.interface_endpoint_az_hour))
    gateway = [e for _, e in endpoints if e.get("VpcEndpointType", "Gateway") == "Gateway"]
    if gateway:
        lines.append(CostLine("Gateway endpoints", f"{_plural(len(gateway), 'endpoint')} (S3/DynamoDB): free", 0.0))
    if len(interface) + len(gateway) < len(endpoints):
        lines.append(CostLine("Other endpoints", f"{len(endpoints) - len(interface) - len(gateway)} Gateway Load "
                              "Balancer endpoints: not in the price table", None))

    web_acls = _resources(template, "AWS::WAFv2::WebACL")
    if web_acls:
        rules = sum(_count(acl.get("Rules")) or 0 for _, acl in web_acls)
        lines.append(CostLine(
            "WAF", f"{_plural(len(web_acls), 'web ACL')} x ${prices.waf_web_acl_month:g} + {_plural(rules, 'rule')} "
            f"x ${prices.waf_rule_month:g} (a rule group counts as one rule); requests excluded",
            len(web_acls) * prices.waf_web_acl_month + rules * prices.waf_rule_month))

    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    if alarms:
        metrics, fast = 0, 0
        for _, alarm in alarms:
            stats = [m for m in alarm.get("Metrics") or [] if isinstance(m, dict) and "MetricStat" in m]
            metrics += len(stats) or 1
            periods = [alarm.get("Period")] + [(m["MetricStat"] or {}).get("Period") for m in stats]
            fast += any(isinstance(p, int | float | str) and str(p).isdigit() and int(p) < 60 for p in periods)
        detail = f", {metrics} metrics (metric-math alarms bill per metric)" if metrics != len(alarms) else ""
        high = f"; {fast} high-resolution, priced here at the standard rate" if fast else ""
        lines.append(CostLine("CloudWatch alarms", f"{_plural(len(alarms), 'alarm')}{detail} x "
                              f"${prices.cloudwatch_alarm_month:.2f} (standard resolution){high}; free tier not "
                              "applied", metrics * prices.cloudwatch_alarm_month))
    composite = _resources(template, "AWS::CloudWatch::CompositeAlarm")
    if composite:
        lines.append(CostLine("Composite alarms", f"{len(composite)}: not in the price table", None))

    dashboards = _resources(template, "AWS::CloudWatch::Dashboard")
    if dashboards:
        lines.append(CostLine("CloudWatch dashboards", f"{_plural(len(dashboards), 'dashboard')} x "
                              f"${prices.cloudwatch_dashboard_month:g}; free tier not applied",
                              len(dashboards) * prices.cloudwatch_dashboard_month))

    keys = _resources(template, "AWS::KMS::Key")
    if keys:
        # Named by what each encrypts: the log groups' key is what compliance (log_kms_key) costs.
        purposes = "; ".join(str(key.get("Description", key_id)) for key_id, key in keys)
        lines.append(CostLine("KMS keys", f"{_plural(len(keys), 'customer managed key')} x "
                              f"${prices.kms_key_month:g} ({purposes}); requests excluded",
                              len(keys) * prices.kms_key_month))

    insights = []
    for cluster_id, cluster in _resources(template, "AWS::ECS::Cluster"):
        settings = {s.get("Name"): s.get("Value") for s in cluster.get("ClusterSettings") or [] if isinstance(s, dict)}
        if str(settings.get("containerInsights", "disabled")) in ("enabled", "enhanced"):
            insights.append(f"{cluster_id} ({settings['containerInsights']})")
    if insights:
        lines.append(CostLine("Container Insights", f"on for {', '.join(insights)}: not estimated, billed per "
                              "CloudWatch custom metric and per GB of performance log events, which grow with the "
                              "number of tasks and containers", None))

    log_groups = _resources(template, "AWS::Logs::LogGroup")
    flow_logs = _resources(template, "AWS::EC2::FlowLog")
    access_logs = [lb for lb in load_balancers
                   if str(_attributes(lb[1], "LoadBalancerAttributes").get("access_logs.s3.enabled")) == "true"]
    buckets = _resources(template, "AWS::S3::Bucket")
    if log_groups or flow_logs or access_logs or buckets:
        parts = []
        if log_groups:
            parts.append(f"{_plural(len(log_groups), 'log group')} "
                         f"(${prices.logs_gb_ingested:.2f}/GB ingested + storage)")
        if flow_logs:
            parts.append(_plural(len(flow_logs), "VPC flow log"))
        if access_logs:
            parts.append(f"access logs of {_plural(len(access_logs), 'load balancer')} to S3")
        if buckets:
            parts.append(f"{_plural(len(buckets), 'S3 bucket')} (storage)")
        lines.append(CostLine("Logs", f"not estimated, they depend on traffic: {', '.join(parts)}", None))

    unpriced = {"AWS::Route53::HostedZone": ("Route 53 hosted zone", None),
                "AWS::SecretsManager::Secret": ("Secrets Manager secret", None),
                "AWS::ECR::Repository": ("ECR repository", "ECR repositories")}
    found = [_plural(len(_resources(template, kind)), *label) for kind, label in unpriced.items()
             if _resources(template, kind)]
    if found:
        lines.append(CostLine("Other, not priced", f"{', '.join(found)}: billed, but not in the price table", None))
    return Cost(tuple(lines))


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
    cost: Cost
    waits: list[RolloutWait]

    @property
    def wait(self) -> int:
        return max(wait.seconds for wait in self.waits)


def _own_stacks(templates: Mapping[str, dict]) -> list[str]:
    """The environment's own stacks: not the registry and CI access stacks, which all environments share."""
    from stacks.app_stacks import CI_ACCESS_STACK, REGISTRY_STACK

    return [name for name in templates if name not in (REGISTRY_STACK, CI_ACCESS_STACK)]


def _environment_cost(templates: Mapping[str, dict], lcu: float) -> Cost:
    total = Cost(())
    for name in _own_stacks(templates):
        total = total + monthly_cost(templates[name], lcu=lcu)
    return total


def _money(dollars: float | None) -> str:
    return "not estimated" if dollars is None else f"${dollars:,.2f}"


def environment_report(env: str, templates: Mapping[str, dict], lcu: float = DEFAULT_LCU) -> tuple[str, float]:
    """One environment beside the stock pattern: (text, this app's total)."""
    service_stack = f"echo-fargate-{env}"
    service = templates[service_stack]
    tasks = fargate_tasks(service)
    if not tasks:
        raise TemplateError(f"{service_stack}: no Fargate service")
    main_tasks = tasks[0]
    desired = math.ceil(main_tasks.count)
    stock = stock_pattern_template(main_tasks.cpu_units, main_tasks.memory_mib, desired)
    columns = [
        Column(f"this app ({', '.join(_own_stacks(templates))})", _environment_cost(templates, lcu),
               rollout_waits(service)),
        Column("stock pattern", monthly_cost(stock, lcu=lcu), rollout_waits(stock)),
    ]
    names = sorted({line.name for column in columns for line in column.cost.lines},
                   key=lambda name: (LINE_ORDER.index(name) if name in LINE_ORDER else len(LINE_ORDER), name))
    width = max([len(name) for name in names] + [30])
    out = [f"== {env}: {service_stack} vs stock aws_ecs_patterns.ApplicationLoadBalancedFargateService "
           f"({_n(main_tasks.vcpu)} vCPU, {_n(main_tasks.gb)} GB, {_plural(desired, 'task')}, the seed's two "
           "containers, the pattern's default VPC and target group) ==",
           f"{'per month (730 h)':<{width}} {'this app':>14} {'stock pattern':>14}"]
    for name in names:
        cells = []
        for column in columns:
            line = next((line for line in column.cost.lines if line.name == name), None)
            cells.append("-" if line is None else _money(line.dollars))
        out.append(f"{name:<{width}} {cells[0]:>14} {cells[1]:>14}")
    out.append(f"{'Total':<{width}} {_money(columns[0].cost.total):>14} {_money(columns[1].cost.total):>14}")
    out.append(f"{'Rolling deploy wait on the ALB':<{width}} {f'{columns[0].wait} s':>14} "
               f"{f'{columns[1].wait} s':>14}")
    for column in columns:
        out.append(f"  {column.title}:")
        out += [f"    {line.name}: {line.quantity}" for line in column.cost.lines]
        out += [f"    rollout wait ({wait.target_group}): {wait}" for wait in column.waits]
    return "\n".join(out), columns[0].cost.total


def report(environments: Mapping[str, Mapping[str, dict]], lcu: float = DEFAULT_LCU) -> str:
    """The whole report for {env: {stack name: template}}."""
    out = [
        "Monthly cost and rolling-deploy wait, read from the synthesized CloudFormation templates",
        PRICES.source_line + " (measure/prices.py)",
        f"Goal: dev total under ${DEV_GOAL_DOLLARS:.2f}/month.",
        f"Assumed: {_n(lcu)} ALB LCU on average per hour; Fargate Spot at the full "
        f"{PRICES.fargate_spot_discount * 100:.0f} % off ('up to'); tasks at DesiredCount "
        "(the autoscaling minimum when there is none); each internet-facing load balancer subnet is one node with "
        "one public IPv4 address.",
        "Excluded: NAT and endpoint data processing, data transfer out, log ingestion and storage, WAF requests, "
        "ECR storage, free tiers; the shared registry and CI access stacks; Container Insights billed per metric "
        "(named when a cluster turns it on, not estimated; an account-wide default is not in the templates).",
    ]
    dev_total = None
    for env, templates in environments.items():
        text, total = environment_report(env, templates, lcu)
        out += ["", text]
        dev_total = total if env == "dev" else dev_total
    if dev_total is not None:
        verdict = "met" if dev_total < DEV_GOAL_DOLLARS else \
            f"NOT met, ${dev_total - DEV_GOAL_DOLLARS:.2f} over"
        out += ["", f"Goal dev < ${DEV_GOAL_DOLLARS:.2f}/month: dev costs ${dev_total:.2f}: {verdict}."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    environments = list(cdk_context()["environments"])
    parser = argparse.ArgumentParser(prog="python -m measure.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=environments,
                        help="an environment from cdk.json (repeatable; default: all)")
    parser.add_argument("--lcu", type=float, default=DEFAULT_LCU, help="assumed average ALB LCUs (default 1)")
    args = parser.parse_args(argv)
    synthesized = {}
    with tempfile.TemporaryDirectory(prefix="report-") as outdir:
        for env in args.env or environments:
            synthesized[env] = synthesize_environment(env, Path(outdir) / env)
    print(report(synthesized, args.lcu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
