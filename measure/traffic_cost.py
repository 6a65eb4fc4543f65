"""What a template's traffic costs a month, for a usage profile (measure/usage.py): the load balancer's LCUs, WAF's
requests, data transfer out, the NAT gateway's data processing, log ingestion and storage, and the access logs
in S3. Each line says what it counted; the sizes of log records it assumes are named below with their source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from measure.cost_lines import Cost, CostLine
from measure.fargate_tasks import fargate_tasks
from measure.lcu import lcu_dimensions
from measure.log_compression import ARCHIVE_METADATA_BYTES_PER_EVENT, gzip_fraction
from measure.prices import GB, HOURS_PER_MONTH, PRICES, Prices
from measure.template_reading import (
    ASSUMED_AZS,
    ELB_DEFAULT_INTERVAL,
    Template,
    attributes,
    load_balancer_subnets,
    n,
    number,
    plural,
    ref_id,
    resources,
)
from measure.usage import Usage

# Bytes per record of the logs AWS writes for each request or flow. AWS publishes no typical size; these are its
# own examples, measured: ALB access log entries 386-528 B (current lines with every field about 425-600 B),
# AWS WAF's JSON records 0.8 KB (curl) to 1.9 KB (a browser's 17 headers), a VPC flow log record in the default
# format 114 B (longer counters and addresses make it larger).
ALB_LOG_ENTRY_BYTES = 550
WAF_LOG_RECORD_BYTES = 1_500
FLOW_LOG_RECORD_BYTES = 130  # 114 B in AWS's example, rounded up
# Flow logs write a record per direction of each flow at each interface: a client's connection is 2 at the load
# balancer node's interface. The node's connections to the tasks are reused across requests and left out; its
# health checks open one each time, seen at the node's interface and at the task's: 4 records per check.
FLOW_RECORDS_PER_CONNECTION = 2
FLOW_RECORDS_PER_HEALTH_CHECK = 4
# Elastic Load Balancing "publishes a log file for each load balancer node every 5 minutes".
ACCESS_LOG_FILES_PER_NODE_HOUR = 12
DAYS_PER_MONTH = 365 / 12
# Lines the containers write per request: echo's access line and nginx's.
APP_LOG_EVENTS_PER_REQUEST = 2


def _gb(bytes_: float) -> float:
    return bytes_ / GB


def _rules_processed(template: Template, load_balancer_id: str) -> int:
    """The rules a request to the busiest listener of a load balancer may be checked against (its default
    action counts as one)."""
    listeners = [lid for lid, listener in resources(template, "AWS::ElasticLoadBalancingV2::Listener")
                 if ref_id(listener.get("LoadBalancerArn")) == load_balancer_id]
    rules = [ref_id(rule.get("ListenerArn")) for _, rule in resources(template,
                                                                      "AWS::ElasticLoadBalancingV2::ListenerRule")]
    return max((rules.count(listener) + 1 for listener in listeners), default=1)


def _retention_days(template: Template, group: Any) -> float | None:
    """RetentionInDays of the log group a Ref points at; None when it never expires or is not in the template."""
    groups = dict(resources(template, "AWS::Logs::LogGroup"))
    properties = groups.get(ref_id(group) or "")
    if properties is None or properties.get("RetentionInDays") is None:
        return None
    return number(template, properties["RetentionInDays"], 0, "RetentionInDays")


def _stored_months(days: float | None) -> float:
    """Months of logs kept at a steady state; a group that never expires is priced for its first year."""
    return (days if days is not None else 365) / DAYS_PER_MONTH


def _container_log_groups(template: Template) -> list[Any]:
    groups = []
    for _, task in resources(template, "AWS::ECS::TaskDefinition"):
        for container in task.get("ContainerDefinitions") or []:
            logging = container.get("LogConfiguration") or {}
            if logging.get("LogDriver") == "awslogs":
                groups.append((logging.get("Options") or {}).get("awslogs-group"))
    return groups


def traffic_cost(template: Template, usage: Usage, *, prices: Prices = PRICES) -> Cost:
    """The template's traffic-driven bill for a month of `usage`."""
    lines: list[CostLine] = []
    requests = usage.requests_per_month
    load_balancers = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    albs = [(lid, lb) for lid, lb in load_balancers if lb.get("Type", "application") == "application"]
    public = [lb for _, lb in load_balancers if str(lb.get("Scheme", "internet-facing")) != "internal"]

    for load_balancer_id, _ in albs:
        rules = _rules_processed(template, load_balancer_id)
        dimensions = lcu_dimensions(usage, rules_processed=rules)
        each = ", ".join(f"{name} {value:.3g}" for name, value in dimensions.as_dict().items())
        lines.append(CostLine(
            "ALB LCUs", f"{load_balancer_id}: {dimensions.billed:.3g} LCU ({dimensions.largest}, the largest of: "
            f"{each}; {plural(rules, 'rule')} processed, 10 free) x {HOURS_PER_MONTH} h x ${prices.alb_lcu_hour}; "
            "hours busier than the average bill more", dimensions.billed * HOURS_PER_MONTH * prices.alb_lcu_hour))

    if resources(template, "AWS::WAFv2::WebACL"):
        lines.append(CostLine("WAF requests", f"{requests / 1e6:.3g} million requests x "
                              f"${prices.waf_million_requests:.2f} per million",
                              requests / 1e6 * prices.waf_million_requests))

    if public:
        out = _gb(requests * usage.response_bytes)
        lines.append(CostLine("Data transfer out", f"{out:.3g} GB of responses x ${prices.data_transfer_out_gb}/GB "
                              "(AWS's 100 GB a month free across the account not applied)",
                              out * prices.data_transfer_out_gb))

    lines += _nat_processing(template, usage, prices)
    lines += _logs(template, usage, prices)
    lines += _access_logs(template, usage, prices)
    return Cost(tuple(lines))


def _nat_processing(template: Template, usage: Usage, prices: Prices) -> list[CostLine]:
    """Tasks without a public address reach CloudWatch Logs and ECR through the NAT gateway, which bills every
    byte it processes (no interface endpoints in these templates)."""
    if not resources(template, "AWS::EC2::NatGateway"):
        return []
    private = [service for service in fargate_tasks(template) if not service.public_ip]
    if not private:
        return []
    endpoints = " ".join(str(endpoint.get("ServiceName")) for _, endpoint in resources(template,
                                                                                         "AWS::EC2::VPCEndpoint"))
    parts, processed = [], 0.0
    if "logs" not in endpoints and _container_log_groups(template):
        logs = _gb(usage.requests_per_month * usage.app_log_bytes_per_request)
        parts.append(f"{logs:.3g} GB of the containers' logs to CloudWatch Logs")
        processed += logs
    # Image layers come from S3: only ECR's endpoints together with an S3 one keep the pulls off the NAT gateway.
    if not ("ecr.dkr" in endpoints and "ecr.api" in endpoints and ".s3" in endpoints):
        tasks = sum(service.count for service in private)
        pulls = _gb(usage.deploys_per_month * tasks * usage.image_pull_mb * 1024 ** 2)
        parts.append(f"{pulls:.3g} GB of images ({n(usage.deploys_per_month)} deploys x {n(tasks)} tasks x "
                     f"{n(usage.image_pull_mb)} MB)")
        processed += pulls
    if not parts:
        return []
    return [CostLine("NAT data processing", f"{' + '.join(parts)} x ${prices.nat_gateway_gb}/GB",
                     processed * prices.nat_gateway_gb)]


def _logs(template: Template, usage: Usage, prices: Prices) -> list[CostLine]:
    requests = usage.requests_per_month
    # What, GB ingested, $/GB, events a month, record format, retention days.
    ingested: list[tuple[str, float, float, float, str, float | None]] = []
    groups = _container_log_groups(template)
    if groups:
        days = [_retention_days(template, group) for group in groups]
        retention = None if None in days else max(days)  # a group that never expires keeps the longest
        ingested.append((f"the containers' {n(usage.app_log_bytes_per_request)} B per request",
                         _gb(requests * usage.app_log_bytes_per_request), prices.logs_gb_ingested,
                         requests * APP_LOG_EVENTS_PER_REQUEST, "app", retention))
    for _, logging in resources(template, "AWS::WAFv2::LoggingConfiguration"):
        destination = str(logging.get("LogDestinationConfigs"))
        if ":logs:" in destination or "log-group" in destination:
            groups_named = [gid for gid, _ in resources(template, "AWS::Logs::LogGroup") if gid in destination]
            retention = _retention_days(template, {"Ref": groups_named[0]}) if groups_named else None
            ingested.append((f"WAF's records, {WAF_LOG_RECORD_BYTES:,} B per request (vended; a third-party "
                             "summary reports 500 MB per million requests included since 2025-09: not applied)",
                             _gb(requests * WAF_LOG_RECORD_BYTES), prices.vended_logs_gb_ingested, requests, "waf",
                             retention))
    flows = [flow for _, flow in resources(template, "AWS::EC2::FlowLog")
             if flow.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs"]
    for flow in flows:
        connections = usage.new_connections_per_second * 3600 * HOURS_PER_MONTH * FLOW_RECORDS_PER_CONNECTION
        checks = _health_checks_per_month(template) * FLOW_RECORDS_PER_HEALTH_CHECK
        ingested.append((f"flow log records of {FLOW_LOG_RECORD_BYTES} B, {FLOW_RECORDS_PER_CONNECTION} per client "
                         f"connection and {FLOW_RECORDS_PER_HEALTH_CHECK} per health check ({checks / 1e6:.3g} million "
                         "a month) (vended)", _gb((connections + checks) * FLOW_LOG_RECORD_BYTES),
                         prices.vended_logs_gb_ingested, connections + checks, "flow",
                         _retention_days(template, flow.get("LogGroupName"))))
    if not ingested:
        return []
    ingestion = CostLine(
        "Log ingestion", "; ".join(f"{what}: {gb:.3g} GB x ${price:.2f}" for what, gb, price, *_ in ingested),
        sum(gb * price for _, gb, price, *_ in ingested))
    stored = [(gb * gzip_fraction(kind) + _gb(events * ARCHIVE_METADATA_BYTES_PER_EVENT)) * _stored_months(days)
              for _, gb, _, events, kind, days in ingested]
    storage = CostLine(
        "Log storage", f"at a steady state, gzipped (the fraction measured per format, measure/log_compression.py) "
        f"+ {ARCHIVE_METADATA_BYTES_PER_EVENT} B per event: "
        + "; ".join(f"{gb:.3g} GB of {kind} records ({gzip_fraction(kind):.3f}; "
                    f"{f'{n(days)} days' if days else 'never expire: a year'})"
                    for gb, (_, _, _, _, kind, days) in zip(stored, ingested, strict=True))
        + f" x ${prices.logs_gb_month_stored}/GB-month", sum(stored) * prices.logs_gb_month_stored)
    return [ingestion, storage]


def _access_logs(template: Template, usage: Usage, prices: Prices) -> list[CostLine]:
    logged = [lb for _, lb in resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
              if str(attributes(lb, "LoadBalancerAttributes").get("access_logs.s3.enabled")) == "true"]
    if not logged:
        return []
    nodes = sum(_nodes(lb) for lb in logged)
    expiry = _bucket_expiry_days(template, attributes(logged[0], "LoadBalancerAttributes").get("access_logs.s3.bucket"))
    monthly = _gb(usage.requests_per_month * ALB_LOG_ENTRY_BYTES)
    stored = monthly * gzip_fraction("alb") * _stored_months(expiry)
    puts = nodes * ACCESS_LOG_FILES_PER_NODE_HOUR * HOURS_PER_MONTH
    kept = f"kept {n(expiry)} days" if expiry else "kept without expiry: a year priced"
    return [CostLine(
        "Access logs (S3)", f"{monthly:.3g} GB a month at {ALB_LOG_ENTRY_BYTES} B per request, {kept}, gzipped to "
        f"{gzip_fraction('alb'):.3f}: {stored:.3g} GB x ${prices.s3_gb_month}/GB-month; {puts:,} files a month "
        f"({nodes} nodes x {ACCESS_LOG_FILES_PER_NODE_HOUR} an hour) x ${prices.s3_thousand_puts} per 1,000 PUTs",
        stored * prices.s3_gb_month + puts / 1000 * prices.s3_thousand_puts)]


def _bucket_expiry_days(template: Template, bucket: Any) -> float | None:
    """The shortest current-version expiry among the enabled lifecycle rules of the bucket the access logs go to
    (the bucket the attribute names, when the template holds it)."""
    buckets = dict(resources(template, "AWS::S3::Bucket"))
    properties = buckets.get(ref_id(bucket) or "")
    if properties is None:
        return None
    days = [rule["ExpirationInDays"] for rule in (properties.get("LifecycleConfiguration") or {}).get("Rules") or []
            if isinstance(rule, Mapping) and rule.get("Status", "Enabled") == "Enabled"
            and isinstance(rule.get("ExpirationInDays"), int | float)]
    return min(days) if days else None


def _nodes(load_balancer: Mapping[str, Any]) -> int:
    """A load balancer's nodes: one per subnet (zone), internal or not."""
    return load_balancer_subnets(load_balancer) or ASSUMED_AZS


def _health_checks_per_month(template: Template) -> float:
    """Health checks of every target group the services register with: each load balancer node checks each task
    every interval."""
    tasks = sum(service.count for service in fargate_tasks(template))
    nodes = sum(_nodes(lb) for _, lb in resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    intervals = [number(template, group.get("HealthCheckIntervalSeconds"), ELB_DEFAULT_INTERVAL,
                        "HealthCheckIntervalSeconds")
                 for _, group in resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")]
    if not intervals:
        return 0.0
    return nodes * tasks * 3600 * HOURS_PER_MONTH / min(intervals)
