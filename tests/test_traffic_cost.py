"""measure/lcu.py and measure/traffic_cost.py: what the load balancer's capacity units and the rest of the traffic
cost, for a usage profile, on hand-made templates and on the synthesized environments."""

from __future__ import annotations

import pytest

from measure.lcu import lcu_dimensions
from measure.log_compression import SAMPLES, gzip_fraction
from measure.prices import GB, HOURS_PER_MONTH
from measure.traffic_cost import traffic_cost
from measure.usage import SECONDS_PER_MONTH, Usage
from tests.report_templates import resource, template

QUIET = dict(requests_per_second=0.0, request_bytes=0, response_bytes=0, new_connections_per_second=0.0,
             active_connections=0.0, app_log_bytes_per_request=0, deploys_per_month=0.0, image_pull_mb=0.0)


def usage(**fields) -> Usage:
    return Usage(**{**QUIET, **fields})


# ----------------------------------------------------------------------------------------- the four dimensions

@pytest.mark.parametrize(("fields", "rules", "largest", "lcus"), [
    # 50 new connections a second: 2 LCU (25 each), everything else small.
    ({"new_connections_per_second": 50.0, "active_connections": 300.0, "requests_per_second": 50.0,
      "request_bytes": 500, "response_bytes": 500}, 1, "new connections", 2.0),
    # 9,000 connections held open (websockets, long polls): 3 LCU (3,000 each).
    ({"new_connections_per_second": 1.0, "active_connections": 9_000.0, "requests_per_second": 10.0,
      "request_bytes": 500, "response_bytes": 500}, 1, "active connections", 3.0),
    # 1,000 requests a second of 1 KiB in and 1 MiB out: about 3,500 GB an hour, an LCU per GB an hour.
    ({"new_connections_per_second": 1.0, "active_connections": 100.0, "requests_per_second": 1_000.0,
      "request_bytes": 1024, "response_bytes": 1024 ** 2}, 1, "processed bytes",
     1_000 * (1024 + 1024 ** 2) * 3600 / GB),
    # 20 rules on the listener: 10 beyond the free ones x 400 requests a second = 4,000 evaluations: 4 LCU.
    ({"new_connections_per_second": 1.0, "active_connections": 100.0, "requests_per_second": 400.0,
      "request_bytes": 100, "response_bytes": 100}, 20, "rule evaluations", 4.0),
])
def test_each_dimension_wins_when_it_is_the_largest_and_only_it_is_billed(fields, rules, largest, lcus):
    dimensions = lcu_dimensions(usage(**fields), rules_processed=rules)
    assert dimensions.largest == largest
    assert dimensions.billed == pytest.approx(lcus, rel=1e-6)
    assert dimensions.billed == max(dimensions.as_dict().values())


def test_the_first_ten_rules_are_free_and_a_given_evaluation_rate_wins_over_the_template():
    assert lcu_dimensions(usage(requests_per_second=1_000.0), rules_processed=10).rule_evaluations == 0
    assert lcu_dimensions(usage(requests_per_second=1_000.0), rules_processed=11).rule_evaluations == 1
    given = usage(requests_per_second=1_000.0, rule_evaluations_per_second=2_500.0)
    assert lcu_dimensions(given, rules_processed=11).rule_evaluations == 2.5


def test_lambda_targets_get_0_4_gb_an_hour_per_lcu():
    heavy = usage(requests_per_second=1.0, response_bytes=GB // 3600)
    assert lcu_dimensions(heavy, rules_processed=1).processed_bytes == pytest.approx(1.0, rel=1e-3)
    assert lcu_dimensions(heavy, rules_processed=1, lambda_targets=True).processed_bytes == pytest.approx(2.5, rel=1e-3)


# ----------------------------------------------------------------------------------------- traffic lines

def load_balancer(**attributes) -> dict:
    return resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="application", Scheme="internet-facing",
                    Subnets=[{"Ref": "A"}, {"Ref": "B"}],
                    LoadBalancerAttributes=[{"Key": k, "Value": v} for k, v in attributes.items()])


def test_lcus_are_priced_every_hour_of_the_month_and_name_the_rules_counted():
    listener = resource("AWS::ElasticLoadBalancingV2::Listener", LoadBalancerArn={"Ref": "LoadBalancer"})
    rules = {f"Rule{i}": resource("AWS::ElasticLoadBalancingV2::ListenerRule", ListenerArn={"Ref": "Listener"})
             for i in range(14)}
    stack = template(LoadBalancer=load_balancer(), Listener=listener, **rules)
    # 15 rules processed (14 and the default): 5 beyond the free ten x 200 requests a second = 1 LCU.
    line = traffic_cost(stack, usage(requests_per_second=200.0)).line("ALB LCUs")
    assert line.dollars == pytest.approx(1.0 * HOURS_PER_MONTH * 0.008)
    assert "15 rules processed" in line.quantity and "rule evaluations" in line.quantity


def test_waf_requests_and_data_out_follow_the_request_count():
    stack = template(LoadBalancer=load_balancer(), Acl=resource("AWS::WAFv2::WebACL", Scope="REGIONAL", Rules=[]))
    cost = traffic_cost(stack, usage(requests_per_second=10.0, response_bytes=4_000))
    requests = 10 * SECONDS_PER_MONTH  # 26.28 million
    assert cost.line("WAF requests").dollars == pytest.approx(requests / 1e6 * 0.60)
    assert cost.line("Data transfer out").dollars == pytest.approx(requests * 4_000 / GB * 0.09)


def _private_service_behind_a_nat() -> dict:
    container = {"Name": "app", "LogConfiguration": {"LogDriver": "awslogs", "Options": {"awslogs-group": {
        "Ref": "Logs"}}}}
    return template(
        Nat=resource("AWS::EC2::NatGateway"), Logs=resource("AWS::Logs::LogGroup", RetentionInDays=30),
        Task=resource("AWS::ECS::TaskDefinition", Cpu="256", Memory="512", ContainerDefinitions=[container]),
        Service=resource("AWS::ECS::Service", TaskDefinition={"Ref": "Task"}, LaunchType="FARGATE", DesiredCount=2,
                         NetworkConfiguration={"AwsvpcConfiguration": {"AssignPublicIp": "DISABLED"}}))


def test_private_tasks_send_their_logs_and_image_pulls_through_the_nat_gateway():
    stack = _private_service_behind_a_nat()
    cost = traffic_cost(stack, usage(requests_per_second=1.0, app_log_bytes_per_request=1_000,
                                     deploys_per_month=10.0, image_pull_mb=100.0))
    logs = SECONDS_PER_MONTH * 1_000 / GB
    pulls = 10 * 2 * 100 * 1024 ** 2 / GB
    assert cost.line("NAT data processing").dollars == pytest.approx((logs + pulls) * 0.045)
    assert cost.line("Log ingestion").dollars == pytest.approx(logs * 0.50)
    # Stored for the group's 30 days, gzipped as measured, plus 26 bytes of metadata for each of 2 lines a request.
    events = SECONDS_PER_MONTH * 2
    stored = (logs * gzip_fraction() + events * 26 / GB) * 30 / (365 / 12)
    assert cost.line("Log storage").dollars == pytest.approx(stored * 0.03)


def test_public_tasks_pay_no_nat_processing():
    stack = _private_service_behind_a_nat()
    stack["Resources"]["Service"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] = \
        "ENABLED"
    names = [line.name for line in traffic_cost(stack, usage(requests_per_second=1.0)).lines]
    assert "NAT data processing" not in names


def test_access_logs_are_priced_in_s3_only_when_switched_on():
    bucket = resource("AWS::S3::Bucket", LifecycleConfiguration={"Rules": [{"ExpirationInDays": 90,
                                                                            "Status": "Enabled"}]})
    off = traffic_cost(template(LoadBalancer=load_balancer(), Bucket=bucket), usage(requests_per_second=1.0))
    assert "Access logs (S3)" not in [line.name for line in off.lines]
    logging = {"access_logs.s3.enabled": "true", "access_logs.s3.bucket": {"Ref": "Bucket"}}
    on = traffic_cost(template(LoadBalancer=load_balancer(**logging), Bucket=bucket), usage(requests_per_second=1.0))
    line = on.line("Access logs (S3)")
    stored = SECONDS_PER_MONTH * 550 / GB * gzip_fraction("alb") * 90 / (365 / 12)
    puts = 2 * 12 * HOURS_PER_MONTH  # two nodes, a file every 5 minutes each
    assert line.dollars == pytest.approx(stored * 0.023 + puts / 1000 * 0.005)
    assert "kept 90 days" in line.quantity


def test_a_quiet_month_costs_only_the_access_log_files_and_the_health_checks_flow_records(prod):
    cost = traffic_cost(prod.templates[prod.service_stack], usage())
    assert {line.name for line in cost.lines if line.dollars} == {"Access logs (S3)", "Log ingestion", "Log storage"}
    # 2 nodes check 2 tasks every 10 s: 1.05 million checks a month, 4 flow records each.
    assert "4 per health check (4.2 million a month)" in cost.line("Log ingestion").quantity


def test_prod_traffic_names_waf_logs_and_flow_logs_among_its_log_ingestion(prod, dev):
    busy = usage(requests_per_second=10.0, request_bytes=800, response_bytes=4_000, new_connections_per_second=1.0,
                 active_connections=100.0, app_log_bytes_per_request=905)
    prod_logs = traffic_cost(prod.templates[prod.service_stack], busy).line("Log ingestion").quantity
    assert "WAF's records" in prod_logs and "flow log records" in prod_logs
    dev_logs = traffic_cost(dev.templates[dev.service_stack], busy).line("Log ingestion").quantity
    assert "WAF's records" not in dev_logs


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_formats_gzip_fraction_is_measured_and_plausible(kind):
    assert 0.02 < gzip_fraction(kind) < 0.3
    assert gzip_fraction(kind) == gzip_fraction(kind, 5_000, 15)  # deterministic
    # The short, number-dense flow records compress worst; the app's lines are measured, not assumed.
    assert gzip_fraction("flow") > gzip_fraction("app")
