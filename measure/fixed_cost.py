"""What a template costs a month whatever its traffic: Fargate tasks (Spot at a dated rate), load balancer and
NAT gateway hours, public addresses, endpoints, WAF's web ACL and rules, alarms, dashboards, KMS keys and
Container Insights' metrics. Every resource type is either priced here or in measure/traffic_cost.py, free, or
named as not estimated (measure/resource_kinds.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from measure.cost_lines import Cost, CostLine
from measure.fargate_tasks import FargateTasks, fargate_tasks
from measure.prices import HOURS_PER_MONTH, PRICES, Prices
from measure.resource_kinds import NOT_ESTIMATED, kinds, template_types
from measure.template_reading import ASSUMED_AZS, Template, count, load_balancer_subnets, n, plural, ref_id, resources

# Container Insights (standard) metrics for a Fargate cluster: 8 with ClusterName and ServiceCount, TaskCount;
# per service 8 more and 5 counts of its tasks and deployments; per task definition family the 8 again.
INSIGHTS_METRICS_PER_CLUSTER, INSIGHTS_METRICS_PER_SERVICE, INSIGHTS_METRICS_PER_TASK_FAMILY = 10, 13, 8


def _fargate_lines(tasks: list[FargateTasks], prices: Prices, spot_discount: float | None) -> list[CostLine]:
    on_demand, spot = [], []
    several = len(tasks) > 1
    for service in tasks:
        vcpu_price = prices.fargate_arm_vcpu_hour if service.arm else prices.fargate_x86_vcpu_hour
        gb_price = prices.fargate_arm_gb_hour if service.arm else prices.fargate_x86_gb_hour
        per_task = (service.vcpu * vcpu_price + service.gb * gb_price) * HOURS_PER_MONTH
        size = (f"(${per_task:.2f} = ({n(service.vcpu)} vCPU x ${vcpu_price} + {n(service.gb)} GB x ${gb_price})"
                f" x {HOURS_PER_MONTH} h, {'ARM64' if service.arm else 'x86_64'})")
        who = f"{service.service}: " if several else ""
        notes = "".join(f"; {note}" for note in service.notes)
        if service.on_demand_tasks > 0 or not service.spot_tasks:
            share = f" of {n(service.count)}" if service.spot_tasks else ""
            on_demand.append((f"{who}{plural(service.on_demand_tasks, 'task')}{share} ({service.count_source}) x "
                              f"{size}{notes}", service.on_demand_tasks * per_task))
        if service.spot_tasks:
            vcpu_spot, gb_spot, rate = _spot_prices(service.arm, prices, spot_discount)
            per_spot_task = (service.vcpu * vcpu_spot + service.gb * gb_spot) * HOURS_PER_MONTH
            spot.append((f"{who}{plural(service.spot_tasks, 'task')} of {n(service.count)} on FARGATE_SPOT "
                         f"({service.count_source}) x (${per_spot_task:.2f} = ({n(service.vcpu)} vCPU x "
                         f"${vcpu_spot:.8g} + {n(service.gb)} GB x ${gb_spot:.8g}) x {HOURS_PER_MONTH} h, "
                         f"{'ARM64' if service.arm else 'x86_64'}; {rate})",
                         service.spot_tasks * per_spot_task))
    return [CostLine(name, "; ".join(text for text, _ in parts), sum(dollars for _, dollars in parts))
            for name, parts in (("Fargate", on_demand), ("Fargate Spot", spot)) if parts]


def _load_balancer_nodes(properties: Mapping[str, Any]) -> tuple[int, str]:
    """Public IPv4 addresses of one load balancer: one per subnet (AZ) when internet-facing with IPv4."""
    if str(properties.get("Scheme", "internet-facing")) == "internal":
        return 0, ""
    if properties.get("IpAddressType") == "dualstack-without-public-ipv4":
        return 0, ""
    subnets = load_balancer_subnets(properties)
    if subnets is None:
        return ASSUMED_AZS, f" (subnets not countable in the template: assumed {ASSUMED_AZS})"
    return subnets, ""


def fixed_cost(template: Template, *, prices: Prices = PRICES, spot_discount: float | None = None) -> Cost:
    """What the template costs a month (730 h) whatever its traffic, line by line, at `prices`; Fargate Spot at
    the dated rate of the price table, or at `spot_discount` off on-demand when given."""
    hours = HOURS_PER_MONTH
    lines: list[CostLine] = []

    tasks = fargate_tasks(template)
    lines += _fargate_lines(tasks, prices, spot_discount)
    for service_id, _ in resources(template, "AWS::ECS::Service"):
        if service_id not in {t.service for t in tasks}:
            lines.append(CostLine("EC2/external capacity", f"{service_id}: instances not priced", None))

    load_balancers = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    albs = [lb for lb in load_balancers if lb[1].get("Type", "application") == "application"]
    others = [lb for lb in load_balancers if lb[1].get("Type", "application") != "application"]
    if albs:
        lines.append(CostLine("ALB hours", f"{plural(len(albs), 'load balancer')} x {hours} h x ${prices.alb_hour}",
                              len(albs) * hours * prices.alb_hour))
    if others:
        other_types = ", ".join(sorted({str(lb[1].get("Type")) for lb in others}))
        lines.append(CostLine("Other load balancers", f"{len(others)} x {other_types}: not in the price table", None))

    nat_gateways = resources(template, "AWS::EC2::NatGateway")
    if nat_gateways:
        lines.append(CostLine(
            "NAT gateways", f"{plural(len(nat_gateways), 'gateway')} x {hours} h x ${prices.nat_gateway_hour} (data "
            "processing: traffic)", len(nat_gateways) * hours *
            prices.nat_gateway_hour))

    task_ips = sum(service.count for service in tasks if service.public_ip)
    public_nats = [nat for nat in nat_gateways if str(nat[1].get("ConnectivityType", "public")) != "private"]
    nat_eips = {ref_id(nat.get("AllocationId")) for _, nat in public_nats}
    other_eips = [eip for eip, _ in resources(template, "AWS::EC2::EIP") if eip not in nat_eips]
    lb_ips, lb_note = 0, ""
    for _, properties in load_balancers:
        nodes, note = _load_balancer_nodes(properties)
        lb_ips, lb_note = lb_ips + nodes, lb_note or note
    addresses = task_ips + len(public_nats) + len(other_eips) + lb_ips
    if addresses:
        parts = [f"{n(task_ips)} for tasks with AssignPublicIp", f"{len(public_nats)} for NAT gateways",
                 f"{lb_ips} for load balancer nodes (one per subnet){lb_note}"]
        if other_eips:
            parts.append(f"{len(other_eips)} other Elastic IPs")
        lines.append(CostLine("Public IPv4", f"{n(addresses)} ({', '.join(parts)}) x {hours} h x "
                              f"${prices.public_ipv4_hour}", addresses * hours * prices.public_ipv4_hour))

    endpoints = resources(template, "AWS::EC2::VPCEndpoint")
    interface = [e for _, e in endpoints if e.get("VpcEndpointType", "Gateway") == "Interface"]
    if interface:
        counted = [count(e.get("SubnetIds")) for e in interface]
        azs = sum(ASSUMED_AZS if c is None else c for c in counted)
        assumed = f" (subnets not countable for {counted.count(None)}: assumed {ASSUMED_AZS} AZs)" \
            if None in counted else ""
        lines.append(CostLine("Interface endpoints", f"{plural(len(interface), 'endpoint')}, {azs} endpoint-AZs"
                              f"{assumed} x {hours} h x ${prices.interface_endpoint_az_hour}; data processing "
                              "excluded", azs * hours * prices.interface_endpoint_az_hour))
    gateway = [e for _, e in endpoints if e.get("VpcEndpointType", "Gateway") == "Gateway"]
    if gateway:
        lines.append(CostLine("Gateway endpoints", f"{plural(len(gateway), 'endpoint')} (S3/DynamoDB): free", 0.0))
    if len(interface) + len(gateway) < len(endpoints):
        lines.append(CostLine("Other endpoints", f"{len(endpoints) - len(interface) - len(gateway)} Gateway Load "
                              "Balancer endpoints: not in the price table", None))

    web_acls = resources(template, "AWS::WAFv2::WebACL")
    if web_acls:
        rules = sum(count(acl.get("Rules")) or 0 for _, acl in web_acls)
        lines.append(CostLine(
            "WAF", f"{plural(len(web_acls), 'web ACL')} x ${prices.waf_web_acl_month:g} + {plural(rules, 'rule')} "
            f"x ${prices.waf_rule_month:g} (a rule group counts as one rule; requests: traffic)",
            len(web_acls) * prices.waf_web_acl_month + rules * prices.waf_rule_month))

    alarms = resources(template, "AWS::CloudWatch::Alarm")
    if alarms:
        metrics, fast = 0, 0
        for _, alarm in alarms:
            stats = [m for m in alarm.get("Metrics") or [] if isinstance(m, dict) and "MetricStat" in m]
            metrics += len(stats) or 1
            periods = [alarm.get("Period")] + [(m["MetricStat"] or {}).get("Period") for m in stats]
            fast += any(isinstance(p, int | float | str) and str(p).isdigit() and int(p) < 60 for p in periods)
        detail = f", {metrics} metrics (metric-math alarms bill per metric)" if metrics != len(alarms) else ""
        high = f"; {fast} high-resolution, priced here at the standard rate" if fast else ""
        lines.append(CostLine("CloudWatch alarms", f"{plural(len(alarms), 'alarm')}{detail} x "
                              f"${prices.cloudwatch_alarm_month:.2f} (standard resolution){high}; free tier not "
                              "applied", metrics * prices.cloudwatch_alarm_month))
    composite = resources(template, "AWS::CloudWatch::CompositeAlarm")
    if composite:
        lines.append(CostLine("Composite alarms", f"{len(composite)}: not in the price table", None))

    dashboards = resources(template, "AWS::CloudWatch::Dashboard")
    if dashboards:
        lines.append(CostLine("CloudWatch dashboards", f"{plural(len(dashboards), 'dashboard')} x "
                              f"${prices.cloudwatch_dashboard_month:g}; free tier not applied",
                              len(dashboards) * prices.cloudwatch_dashboard_month))

    keys = resources(template, "AWS::KMS::Key")
    if keys:
        # Named by what each encrypts: the log groups' key is what compliance (log_kms_key) costs.
        purposes = "; ".join(str(key.get("Description", key_id)) for key_id, key in keys)
        lines.append(CostLine("KMS keys", f"{plural(len(keys), 'customer managed key')} x "
                              f"${prices.kms_key_month:g} in a key's first year ({purposes}); each yearly rotation "
                              "adds $1 a month (AWS KMS pricing); requests not estimated (CloudWatch Logs reuses its "
                              "data keys)",
                              len(keys) * prices.kms_key_month))

    lines += _container_insights(template, prices)

    present = kinds(template_types(template))
    if present.not_estimated:
        lines.append(CostLine("Not estimated", "; ".join(f"{t}: {NOT_ESTIMATED[t]}" for t in present.not_estimated),
                              None))
    if present.unclassified:
        lines.append(CostLine("Unclassified", f"{', '.join(present.unclassified)}: not known to the report "
                              "(measure/resource_kinds.py)", None))
    return Cost(tuple(lines))


def _spot_prices(arm: bool, prices: Prices, spot_discount: float | None) -> tuple[float, float, str]:
    """Spot's $/vCPU-h and $/GB-h, and where they come from."""
    vcpu = prices.fargate_arm_vcpu_hour if arm else prices.fargate_x86_vcpu_hour
    gb = prices.fargate_arm_gb_hour if arm else prices.fargate_x86_gb_hour
    if spot_discount is not None:
        return vcpu * (1 - spot_discount), gb * (1 - spot_discount), \
            f"--spot-discount {spot_discount:g}: {spot_discount * 100:.1f} % off on-demand"
    rate = prices.spot_rate(arm)
    return rate.vcpu_hour, rate.gb_hour, (f"Fargate Spot in {rate.region}, {rate.architecture}, on {rate.as_of}: "
                                          f"{rate.discount(vcpu) * 100:.1f} % off on-demand")


def _container_insights(template: Template, prices: Prices) -> list[CostLine]:
    """Container Insights (standard) bills its metrics as custom metrics: per cluster, per service and per task
    definition family of a running service (CloudWatch User Guide, "Amazon ECS Container Insights metrics")."""
    services = resources(template, "AWS::ECS::Service")
    lines = []
    for cluster_id, cluster in resources(template, "AWS::ECS::Cluster"):
        settings = {s.get("Name"): s.get("Value") for s in cluster.get("ClusterSettings") or [] if isinstance(s, dict)}
        mode = str(settings.get("containerInsights", "disabled"))
        if mode not in ("enabled", "enhanced"):
            continue
        mine = [service for _, service in services if ref_id(service.get("Cluster")) == cluster_id]
        families = {ref_id(service.get("TaskDefinition")) for service in mine}
        metrics = (INSIGHTS_METRICS_PER_CLUSTER + INSIGHTS_METRICS_PER_SERVICE * len(mine)
                   + INSIGHTS_METRICS_PER_TASK_FAMILY * len(families))
        enhanced = "; enhanced mode adds task- and container-level metrics, not counted" if mode == "enhanced" else ""
        counted = (f"{INSIGHTS_METRICS_PER_CLUSTER} for the cluster, {INSIGHTS_METRICS_PER_SERVICE} per service x "
                   f"{len(mine)}, {INSIGHTS_METRICS_PER_TASK_FAMILY} per task family x {len(families)}")
        lines.append(CostLine(
            "Container Insights", f"{cluster_id} ({mode}): {metrics} metrics ({counted}) x "
            f"${prices.custom_metric_month:.2f}; its performance log events (${prices.logs_gb_ingested:.2f}/GB) not "
            f"estimated{enhanced}", metrics * prices.custom_metric_month))
    return lines
