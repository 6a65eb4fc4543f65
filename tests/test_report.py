"""measure/report.py and measure/fixed_cost.py: the rolling-deploy wait and the fixed monthly cost, read from
templates.

Unit tests price small hand-made templates to the cent; the rest read the session's synthesized environments
and one stock ApplicationLoadBalancedFargateService, synthesized once per session.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from measure import report
from measure.fargate_tasks import fargate_tasks, spot_tasks
from measure.fixed_cost import fixed_cost
from measure.prices import HOURS_PER_MONTH, PRICES
from tests.report_templates import fargate_template, resource, service, target_group, task_definition, template

X86_TASK = 9.01  # 0.25 vCPU + 0.5 GB for 730 h (facts.md)
ARM_TASK = 7.21
# The same task on Fargate Spot in us-east-1 at the 2026-09-28 rates: 68.2 % off, not the 70 % AWS's "up to" says.
X86_SPOT_TASK = (0.25 * 0.01288871 + 0.5 * 0.00141527) * HOURS_PER_MONTH  # $2.87
ARM_SPOT_TASK = (0.25 * 0.01030969 + 0.5 * 0.00113349) * HOURS_PER_MONTH  # $2.30
HOUR_OF_IPV4 = 0.005 * HOURS_PER_MONTH  # $3.65 a month per address


# ----------------------------------------------------------------------------------------- rollout wait

def test_rollout_wait_defaults_to_the_elb_defaults_30_s_x_5_plus_300_s():
    assert report.rollout_wait(template(Group=target_group())) == 450


def test_rollout_wait_reads_interval_threshold_and_deregistration_delay():
    group = target_group(HealthCheckIntervalSeconds=10, HealthyThresholdCount=2, TargetGroupAttributes=[
        {"Key": "stickiness.enabled", "Value": "false"},
        {"Key": "deregistration_delay.timeout_seconds", "Value": "10"},
    ])
    assert report.rollout_wait(template(Group=group)) == 30


def test_rollout_wait_is_the_services_target_group_and_resolves_parameter_defaults():
    fast = target_group(HealthCheckIntervalSeconds={"Ref": "Interval"}, HealthyThresholdCount=2,
                        TargetGroupAttributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
    unused = target_group()  # stock settings, but no service registers with it
    stack = {"Parameters": {"Interval": {"Type": "Number", "Default": "15"}},
             "Resources": {"Fast": fast, "Unused": unused, "Task": task_definition(),
                           "Service": service(target_groups=("Fast",))}}
    assert report.rollout_wait(stack) == 15 * 2 + 5


def test_rollout_wait_without_a_target_group_is_an_error():
    with pytest.raises(report.TemplateError, match="TargetGroup"):
        report.rollout_wait(fargate_template())


# ----------------------------------------------------------------------------------------- Fargate

def test_one_x86_task_of_256_cpu_and_512_mib_costs_9_01():
    cost = fixed_cost(fargate_template(desired=1))
    assert cost.line("Fargate").dollars == pytest.approx(X86_TASK, abs=0.01)
    assert cost.total == pytest.approx(X86_TASK, abs=0.01)


def test_an_arm64_task_costs_7_21():
    cost = fixed_cost(fargate_template(desired=1, architecture="ARM64"))
    assert cost.line("Fargate").dollars == pytest.approx(ARM_TASK, abs=0.01)
    assert "ARM64" in cost.line("Fargate").quantity


def test_task_size_scales_the_price_and_reads_vcpu_and_gb_notation():
    stack = fargate_template(desired=2)
    stack["Resources"]["Task"] = task_definition(cpu="1 vCPU", memory="2 GB")
    per_task = (1 * 0.04048 + 2 * 0.004445) * HOURS_PER_MONTH
    assert fixed_cost(stack).line("Fargate").dollars == pytest.approx(2 * per_task, abs=0.01)


def test_half_the_tasks_on_spot_pay_the_dated_spot_rate_for_that_half():
    half = [{"CapacityProvider": "FARGATE", "Weight": 1}, {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    cost = fixed_cost(fargate_template(desired=2, strategy=half))
    assert cost.line("Fargate").dollars == pytest.approx(X86_TASK, abs=0.01)
    assert cost.line("Fargate Spot").dollars == pytest.approx(X86_SPOT_TASK, abs=0.01)
    assert cost.total == pytest.approx(11.88, abs=0.01)


ALL_SPOT = [{"CapacityProvider": "FARGATE_SPOT", "Weight": 100}]


def test_all_tasks_on_spot_have_no_on_demand_line_and_name_the_rate_they_used():
    cost = fixed_cost(fargate_template(desired=1, strategy=ALL_SPOT))
    assert [line.name for line in cost.lines] == ["Fargate Spot"]
    assert cost.total == pytest.approx(2.87, abs=0.01)
    assert "Fargate Spot in us-east-1, x86_64, on 2026-09-28: 68.2 % off on-demand" in \
        cost.line("Fargate Spot").quantity


def test_arm64_on_spot_has_its_own_dated_rate():
    cost = fixed_cost(fargate_template(desired=1, strategy=ALL_SPOT, architecture="ARM64"))
    assert cost.line("Fargate Spot").dollars == pytest.approx(ARM_SPOT_TASK, abs=0.01)
    assert "us-east-1, arm64, on 2026-09-28" in cost.line("Fargate Spot").quantity


def test_a_given_spot_discount_replaces_the_dated_rate_and_says_so():
    cost = fixed_cost(fargate_template(desired=1, strategy=ALL_SPOT), spot_discount=0.6)
    assert cost.line("Fargate Spot").dollars == pytest.approx(X86_TASK * 0.4, abs=0.01)
    assert "--spot-discount 0.6: 60.0 % off on-demand" in cost.line("Fargate Spot").quantity


def test_the_spot_rates_are_dated_sourced_and_about_68_percent_off():
    for arm in (False, True):
        rate = PRICES.spot_rate(arm)
        on_demand = PRICES.fargate_arm_vcpu_hour if arm else PRICES.fargate_x86_vcpu_hour
        assert rate.region == PRICES.region and rate.as_of == "2026-09-28"
        assert "fargate-spot-prices.json" in rate.source
        assert rate.discount(on_demand) == pytest.approx(0.682, abs=0.001)
        # The same fraction off memory as off CPU, as in every snapshot read.
        gb = PRICES.fargate_arm_gb_hour if arm else PRICES.fargate_x86_gb_hour
        assert 1 - rate.gb_hour / gb == pytest.approx(rate.discount(on_demand), abs=0.001)


def test_the_base_goes_first_then_the_weights_split_the_rest():
    # 3 tasks: 1 on-demand base, the other 2 split 50/50 → 2 on-demand, 1 spot.
    strategy = [{"CapacityProvider": "FARGATE", "Base": 1, "Weight": 50},
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 50}]
    assert spot_tasks(strategy, 3) == 1
    cost = fixed_cost(fargate_template(desired=3, strategy=strategy))
    assert cost.line("Fargate").dollars == pytest.approx(2 * X86_TASK, abs=0.01)
    assert cost.line("Fargate Spot").dollars == pytest.approx(X86_SPOT_TASK, abs=0.01)


def test_the_clusters_default_strategy_applies_to_a_service_without_launch_type():
    stack = fargate_template(desired=2, strategy=[])
    stack["Resources"]["Providers"] = resource(
        "AWS::ECS::ClusterCapacityProviderAssociations", Cluster={"Ref": "Cluster"},
        CapacityProviders=["FARGATE", "FARGATE_SPOT"],
        DefaultCapacityProviderStrategy=[{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}])
    assert fixed_cost(stack).line("Fargate Spot").dollars == pytest.approx(2 * X86_SPOT_TASK, abs=0.01)


def test_without_desired_count_the_autoscaling_minimum_is_priced():
    stack = fargate_template(desired=None)
    stack["Resources"]["Scaling"] = resource(
        "AWS::ApplicationAutoScaling::ScalableTarget", MinCapacity=3, MaxCapacity=6,
        ScalableDimension="ecs:service:DesiredCount", ServiceNamespace="ecs",
        ResourceId={"Fn::Join": ["", ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": ["Service", "Name"]}]]})
    line = fixed_cost(stack).line("Fargate")
    assert line.dollars == pytest.approx(3 * X86_TASK, abs=0.01)
    assert "3-6" in line.quantity


# ----------------------------------------------------------------------------------------- network and the rest

def load_balancer(subnets: int = 2, scheme: str = "internet-facing") -> dict:
    return resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="application", Scheme=scheme,
                    Subnets=[{"Ref": f"Subnet{index}"} for index in range(subnets)])


def test_an_alb_costs_its_hours_and_its_lcus_are_traffic():
    cost = fixed_cost(template(LoadBalancer=load_balancer(scheme="internal")))
    assert cost.line("ALB hours").dollars == pytest.approx(16.43, abs=0.01)
    assert "ALB LCUs" not in [line.name for line in cost.lines]  # tests/test_traffic_cost.py


def test_two_nat_gateways_cost_65_70_and_data_processing_is_traffic():
    stack = template(**{f"Nat{index}": resource("AWS::EC2::NatGateway", AllocationId={
        "Fn::GetAtt": [f"Eip{index}", "AllocationId"]}) for index in (1, 2)},
        **{f"Eip{index}": resource("AWS::EC2::EIP", Domain="vpc") for index in (1, 2)})
    cost = fixed_cost(stack)
    assert cost.line("NAT gateways").dollars == pytest.approx(65.70, abs=0.01)
    assert "data processing: traffic" in cost.line("NAT gateways").quantity
    # Each gateway's Elastic IP is a public IPv4 address, counted once.
    assert cost.line("Public IPv4").dollars == pytest.approx(2 * HOUR_OF_IPV4, abs=0.01)


def test_public_ipv4_counts_public_tasks_nat_addresses_and_alb_nodes():
    stack = fargate_template(desired=2, public=True)
    stack["Resources"].update(
        Nat=resource("AWS::EC2::NatGateway", AllocationId={"Fn::GetAtt": ["Eip", "AllocationId"]}),
        Eip=resource("AWS::EC2::EIP", Domain="vpc"),
        LoadBalancer=load_balancer(subnets=3),
    )
    line = fixed_cost(stack).line("Public IPv4")
    assert line.quantity.startswith("6 (2 for tasks with AssignPublicIp, 1 for NAT gateways, 3 for load balancer")
    assert line.dollars == pytest.approx(6 * HOUR_OF_IPV4, abs=0.01)  # $21.90


def test_internal_load_balancers_and_private_tasks_have_no_public_ipv4():
    stack = fargate_template(desired=2, public=False)
    stack["Resources"]["LoadBalancer"] = load_balancer(scheme="internal")
    cost = fixed_cost(stack)
    assert "Public IPv4" not in [line.name for line in cost.lines]
    assert cost.dollars("Public IPv4") == 0


def test_interface_endpoints_are_priced_per_az_and_gateway_endpoints_are_free():
    stack = template(
        Ecr=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", ServiceName="com.amazonaws.ecr.dkr",
                     SubnetIds=[{"Ref": "A"}, {"Ref": "B"}]),
        S3=resource("AWS::EC2::VPCEndpoint", ServiceName="com.amazonaws.s3"),  # Gateway is the default type
    )
    cost = fixed_cost(stack)
    assert cost.line("Interface endpoints").dollars == pytest.approx(2 * 0.01 * HOURS_PER_MONTH)  # $14.60
    assert cost.line("Gateway endpoints").dollars == 0


def test_waf_alarms_dashboards_and_container_insights_metrics_are_priced():
    stack = template(
        Acl=resource("AWS::WAFv2::WebACL", Scope="REGIONAL", Rules=[{"Name": f"r{i}"} for i in range(3)]),
        **{f"Alarm{i}": resource("AWS::CloudWatch::Alarm", Period=60, Threshold=1) for i in range(6)},
        Dashboard=resource("AWS::CloudWatch::Dashboard", DashboardBody="{}"),
        Cluster=resource("AWS::ECS::Cluster", ClusterSettings=[{"Name": "containerInsights", "Value": "enabled"}]),
        Task=task_definition(), Service=resource("AWS::ECS::Service", Cluster={"Ref": "Cluster"},
                                                 TaskDefinition={"Ref": "Task"}, LaunchType="FARGATE"),
        Logs=resource("AWS::Logs::LogGroup", RetentionInDays=30),
    )
    cost = fixed_cost(stack)
    assert cost.line("WAF").dollars == pytest.approx(5 + 3 * 1)
    assert cost.line("CloudWatch alarms").dollars == pytest.approx(6 * 0.10)
    assert cost.line("CloudWatch dashboards").dollars == pytest.approx(3)
    # One cluster (10 metrics), one service (13), one task family (8): 31 custom metrics at $0.30.
    assert cost.line("Container Insights").dollars == pytest.approx(31 * 0.30)
    assert "31 metrics" in cost.line("Container Insights").quantity
    assert "Logs" not in [line.name for line in cost.lines]  # ingestion and storage are traffic
    assert cost.total == pytest.approx(8 + 0.60 + 3 + 9.30 + X86_TASK, abs=0.01)


def test_customer_managed_keys_cost_a_dollar_each(prod, dev):
    keys = template(**{f"Key{i}": resource("AWS::KMS::Key", EnableKeyRotation=True) for i in range(2)})
    assert fixed_cost(keys).line("KMS keys").dollars == pytest.approx(2)
    # prod's compliance: the log groups' key and the alarm topic's; dev has neither (no key, no line).
    assert fixed_cost(prod.templates[prod.service_stack]).line("KMS keys").dollars == pytest.approx(2)
    assert "KMS keys" not in [line.name for line in fixed_cost(dev.templates[dev.service_stack]).lines]
    # Priced once: not again among what is not estimated.
    assert "KMS" not in fixed_cost(prod.templates[prod.service_stack]).line("Not estimated").quantity


def test_the_price_table_is_frozen_and_names_its_date_and_source():
    assert "us-east-1" in PRICES.source_line
    assert "2026" in PRICES.source_line
    assert "AWS price pages and billing strings, read through dated copies" in PRICES.source_line
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRICES.nat_gateway_hour = 0  # type: ignore[misc]


# ----------------------------------------------------------------------------------------- synthesized templates

@pytest.fixture(scope="module")
def stock(dev) -> dict:
    """The stock pattern running dev's task, synthesized once (main() reuses it from the same cache)."""
    tasks = fargate_tasks(dev.templates[dev.service_stack])[0]
    return report.stock_pattern_template(tasks.cpu_units, tasks.memory_mib, math.ceil(tasks.count))


def test_rollout_wait_of_each_environment_is_at_most_30_s(dev, prod):
    assert report.rollout_wait(dev.templates[dev.service_stack]) <= 30
    assert report.rollout_wait(prod.templates[prod.service_stack]) <= 30


def test_the_stock_pattern_waits_450_s_per_rolling_deploy(stock):
    assert report.rollout_wait(stock) == 450


def test_the_stock_pattern_has_two_nat_gateways_and_costs_more_than_dev(dev, stock):
    stock_cost = fixed_cost(stock)
    dev_cost = fixed_cost(dev.templates[dev.service_stack])
    nat_gateways = [r for r in stock["Resources"].values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert len(nat_gateways) == 2
    assert stock_cost.line("NAT gateways").dollars == pytest.approx(65.70, abs=0.01)
    assert stock_cost.total > dev_cost.total + 60
    # Same task on both sides: the Fargate part (on-demand and spot together) is no dearer in this app.
    fargate = ("Fargate", "Fargate Spot")
    assert sum(dev_cost.dollars(name) for name in fargate) <= sum(stock_cost.dollars(name) for name in fargate)


def test_main_prints_both_environments_the_price_and_traffic_sources_and_the_goal(capsys):
    assert report.main([]) == 0
    out = capsys.readouterr().out
    assert PRICES.source_line in out
    assert "Fargate Spot: x86_64 $0.01288871/vCPU-h + $0.00141527/GB-h on 2026-09-28 (68.2 % off)" in out
    assert "Traffic: the default profile (default_usage.toml" in out
    assert out.count("fixed, per month (730 h)") == 2 and out.count("traffic-driven, per month") == 2
    assert "== dev: echo-fargate-dev vs stock" in out
    assert "== prod: echo-fargate-prod vs stock" in out
    assert re.search(r"Goal dev < \$36\.00/month: dev costs \$[\d.]+ fixed \+ \$[\d.]+ for its traffic = \$[\d.]+: "
                     r"(met|NOT met)", out)
    assert out.count("Rolling deploy wait on the ALB") == 2
    assert "450 s" in out
