"""measure/report.py: the rolling-deploy wait and the monthly cost, read from templates.

Unit tests price small hand-made templates to the cent; the rest read the session's synthesized environments
and one stock ApplicationLoadBalancedFargateService, synthesized once per session.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from measure import report
from measure.prices import HOURS_PER_MONTH, PRICES

X86_TASK = 9.01  # 0.25 vCPU + 0.5 GB for 730 h (facts.md)
ARM_TASK = 7.21
HOUR_OF_IPV4 = 0.005 * HOURS_PER_MONTH  # $3.65 a month per address


# ----------------------------------------------------------------------------------------- hand-made templates

def resource(kind: str, **properties) -> dict:
    return {"Type": kind, "Properties": properties}


def task_definition(cpu: str = "256", memory: str = "512", architecture: str | None = None) -> dict:
    properties = {"Cpu": cpu, "Memory": memory, "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"]}
    if architecture:
        properties["RuntimePlatform"] = {"CpuArchitecture": architecture, "OperatingSystemFamily": "LINUX"}
    return resource("AWS::ECS::TaskDefinition", **properties)


def service(desired: int | None = 1, *, public: bool = False, strategy: list[dict] | None = None,
            target_groups: tuple[str, ...] = ()) -> dict:
    properties = {
        "Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
        "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED" if public else "DISABLED",
                                                         "Subnets": [{"Ref": "A"}, {"Ref": "B"}]}},
        "LoadBalancers": [{"ContainerName": "nginx", "ContainerPort": 80, "TargetGroupArn": {"Ref": group}}
                          for group in target_groups],
    }
    if desired is not None:
        properties["DesiredCount"] = desired
    if strategy is None:
        properties["LaunchType"] = "FARGATE"
    else:
        properties["CapacityProviderStrategy"] = strategy
    return resource("AWS::ECS::Service", **properties)


def template(**resources: dict) -> dict:
    return {"Resources": resources}


def fargate_template(**service_options) -> dict:
    architecture = service_options.pop("architecture", None)
    return template(Cluster=resource("AWS::ECS::Cluster"), Task=task_definition(architecture=architecture),
                    Service=service(**service_options))


def target_group(**properties) -> dict:
    return resource("AWS::ElasticLoadBalancingV2::TargetGroup", Port=80, Protocol="HTTP", TargetType="ip",
                    **properties)


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
    cost = report.monthly_cost(fargate_template(desired=1))
    assert cost.line("Fargate").dollars == pytest.approx(X86_TASK, abs=0.01)
    assert cost.total == pytest.approx(X86_TASK, abs=0.01)


def test_an_arm64_task_costs_7_21():
    cost = report.monthly_cost(fargate_template(desired=1, architecture="ARM64"))
    assert cost.line("Fargate").dollars == pytest.approx(ARM_TASK, abs=0.01)
    assert "ARM64" in cost.line("Fargate").quantity


def test_task_size_scales_the_price_and_reads_vcpu_and_gb_notation():
    stack = fargate_template(desired=2)
    stack["Resources"]["Task"] = task_definition(cpu="1 vCPU", memory="2 GB")
    per_task = (1 * 0.04048 + 2 * 0.004445) * HOURS_PER_MONTH
    assert report.monthly_cost(stack).line("Fargate").dollars == pytest.approx(2 * per_task, abs=0.01)


def test_half_the_tasks_on_spot_pay_30_percent_for_that_half():
    half = [{"CapacityProvider": "FARGATE", "Weight": 1}, {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    cost = report.monthly_cost(fargate_template(desired=2, strategy=half))
    assert cost.line("Fargate").dollars == pytest.approx(X86_TASK, abs=0.01)
    assert cost.line("Fargate Spot").dollars == pytest.approx(X86_TASK * 0.3, abs=0.01)
    assert cost.total == pytest.approx(11.71, abs=0.01)


def test_all_tasks_on_spot_have_no_on_demand_line():
    cost = report.monthly_cost(fargate_template(desired=1, strategy=[
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 100}]))
    assert [line.name for line in cost.lines] == ["Fargate Spot"]
    assert cost.total == pytest.approx(2.70, abs=0.01)
    assert "70 %" in cost.line("Fargate Spot").quantity


def test_the_base_goes_first_then_the_weights_split_the_rest():
    # 3 tasks: 1 on-demand base, the other 2 split 50/50 → 2 on-demand, 1 spot.
    strategy = [{"CapacityProvider": "FARGATE", "Base": 1, "Weight": 50},
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 50}]
    assert report.spot_tasks(strategy, 3) == 1
    cost = report.monthly_cost(fargate_template(desired=3, strategy=strategy))
    assert cost.line("Fargate").dollars == pytest.approx(2 * X86_TASK, abs=0.01)
    assert cost.line("Fargate Spot").dollars == pytest.approx(0.3 * X86_TASK, abs=0.01)


def test_the_clusters_default_strategy_applies_to_a_service_without_launch_type():
    stack = fargate_template(desired=2, strategy=[])
    stack["Resources"]["Providers"] = resource(
        "AWS::ECS::ClusterCapacityProviderAssociations", Cluster={"Ref": "Cluster"},
        CapacityProviders=["FARGATE", "FARGATE_SPOT"],
        DefaultCapacityProviderStrategy=[{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}])
    assert report.monthly_cost(stack).line("Fargate Spot").dollars == pytest.approx(2 * 0.3 * X86_TASK, abs=0.01)


def test_without_desired_count_the_autoscaling_minimum_is_priced():
    stack = fargate_template(desired=None)
    stack["Resources"]["Scaling"] = resource(
        "AWS::ApplicationAutoScaling::ScalableTarget", MinCapacity=3, MaxCapacity=6,
        ScalableDimension="ecs:service:DesiredCount", ServiceNamespace="ecs",
        ResourceId={"Fn::Join": ["", ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": ["Service", "Name"]}]]})
    line = report.monthly_cost(stack).line("Fargate")
    assert line.dollars == pytest.approx(3 * X86_TASK, abs=0.01)
    assert "3-6" in line.quantity


# ----------------------------------------------------------------------------------------- network and the rest

def load_balancer(subnets: int = 2, scheme: str = "internet-facing") -> dict:
    return resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="application", Scheme=scheme,
                    Subnets=[{"Ref": f"Subnet{index}"} for index in range(subnets)])


def test_an_alb_costs_its_hours_plus_the_assumed_lcus():
    cost = report.monthly_cost(template(LoadBalancer=load_balancer(scheme="internal")))
    assert cost.line("ALB hours").dollars == pytest.approx(16.43, abs=0.01)
    assert cost.line("ALB LCUs").dollars == pytest.approx(5.84, abs=0.01)
    assert "assumed 1 LCU" in cost.line("ALB LCUs").quantity
    half = report.monthly_cost(template(LoadBalancer=load_balancer(scheme="internal")), lcu=0.5)
    assert half.line("ALB LCUs").dollars == pytest.approx(2.92, abs=0.01)


def test_two_nat_gateways_cost_65_70_and_data_processing_is_excluded():
    stack = template(**{f"Nat{index}": resource("AWS::EC2::NatGateway", AllocationId={
        "Fn::GetAtt": [f"Eip{index}", "AllocationId"]}) for index in (1, 2)},
        **{f"Eip{index}": resource("AWS::EC2::EIP", Domain="vpc") for index in (1, 2)})
    cost = report.monthly_cost(stack)
    assert cost.line("NAT gateways").dollars == pytest.approx(65.70, abs=0.01)
    assert "data processing" in cost.line("NAT gateways").quantity
    # Each gateway's Elastic IP is a public IPv4 address, counted once.
    assert cost.line("Public IPv4").dollars == pytest.approx(2 * HOUR_OF_IPV4, abs=0.01)


def test_public_ipv4_counts_public_tasks_nat_addresses_and_alb_nodes():
    stack = fargate_template(desired=2, public=True)
    stack["Resources"].update(
        Nat=resource("AWS::EC2::NatGateway", AllocationId={"Fn::GetAtt": ["Eip", "AllocationId"]}),
        Eip=resource("AWS::EC2::EIP", Domain="vpc"),
        LoadBalancer=load_balancer(subnets=3),
    )
    line = report.monthly_cost(stack).line("Public IPv4")
    assert line.quantity.startswith("6 (2 for tasks with AssignPublicIp, 1 for NAT gateways, 3 for load balancer")
    assert line.dollars == pytest.approx(6 * HOUR_OF_IPV4, abs=0.01)  # $21.90


def test_internal_load_balancers_and_private_tasks_have_no_public_ipv4():
    stack = fargate_template(desired=2, public=False)
    stack["Resources"]["LoadBalancer"] = load_balancer(scheme="internal")
    cost = report.monthly_cost(stack)
    assert "Public IPv4" not in [line.name for line in cost.lines]
    assert cost.dollars("Public IPv4") == 0


def test_interface_endpoints_are_priced_per_az_and_gateway_endpoints_are_free():
    stack = template(
        Ecr=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", ServiceName="com.amazonaws.ecr.dkr",
                     SubnetIds=[{"Ref": "A"}, {"Ref": "B"}]),
        S3=resource("AWS::EC2::VPCEndpoint", ServiceName="com.amazonaws.s3"),  # Gateway is the default type
    )
    cost = report.monthly_cost(stack)
    assert cost.line("Interface endpoints").dollars == pytest.approx(2 * 0.01 * HOURS_PER_MONTH)  # $14.60
    assert cost.line("Gateway endpoints").dollars == 0


def test_waf_alarms_and_dashboards_are_priced_and_usage_lines_are_named_not_estimated():
    stack = template(
        Acl=resource("AWS::WAFv2::WebACL", Scope="REGIONAL", Rules=[{"Name": f"r{i}"} for i in range(3)]),
        **{f"Alarm{i}": resource("AWS::CloudWatch::Alarm", Period=60, Threshold=1) for i in range(6)},
        Dashboard=resource("AWS::CloudWatch::Dashboard", DashboardBody="{}"),
        Cluster=resource("AWS::ECS::Cluster", ClusterSettings=[{"Name": "containerInsights", "Value": "enabled"}]),
        Logs=resource("AWS::Logs::LogGroup", RetentionInDays=30),
    )
    cost = report.monthly_cost(stack)
    assert cost.line("WAF").dollars == pytest.approx(5 + 3 * 1)
    assert cost.line("CloudWatch alarms").dollars == pytest.approx(6 * 0.10)
    assert cost.line("CloudWatch dashboards").dollars == pytest.approx(3)
    assert cost.line("Container Insights").dollars is None
    assert "not estimated" in cost.line("Container Insights").quantity
    assert cost.line("Logs").dollars is None
    assert cost.total == pytest.approx(8 + 0.60 + 3)


def test_customer_managed_keys_cost_a_dollar_each(prod, dev):
    keys = template(**{f"Key{i}": resource("AWS::KMS::Key", EnableKeyRotation=True) for i in range(2)})
    assert report.monthly_cost(keys).line("KMS keys").dollars == pytest.approx(2)
    # prod's compliance: the log groups' key and the alarm topic's; dev has neither (no key, no line).
    assert report.monthly_cost(prod.templates[prod.service_stack]).line("KMS keys").dollars == pytest.approx(2)
    assert "KMS keys" not in [line.name for line in report.monthly_cost(dev.templates[dev.service_stack]).lines]
    # Priced once: not again among the resources the table does not price.
    prod_lines = report.monthly_cost(prod.templates[prod.service_stack]).lines
    assert "Other, not priced" not in [line.name for line in prod_lines]


def test_the_price_table_is_frozen_and_names_its_date_and_source():
    assert "us-east-1" in PRICES.source_line
    assert "2026" in PRICES.source_line
    assert "secondary copies of AWS price pages" in PRICES.source_line
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRICES.nat_gateway_hour = 0  # type: ignore[misc]


# ----------------------------------------------------------------------------------------- synthesized templates

@pytest.fixture(scope="module")
def stock(dev) -> dict:
    """The stock pattern running dev's task, synthesized once (main() reuses it from the same cache)."""
    tasks = report.fargate_tasks(dev.templates[dev.service_stack])[0]
    return report.stock_pattern_template(tasks.cpu_units, tasks.memory_mib, math.ceil(tasks.count))


def test_rollout_wait_of_each_environment_is_at_most_30_s(dev, prod):
    assert report.rollout_wait(dev.templates[dev.service_stack]) <= 30
    assert report.rollout_wait(prod.templates[prod.service_stack]) <= 30


def test_the_stock_pattern_waits_450_s_per_rolling_deploy(stock):
    assert report.rollout_wait(stock) == 450


def test_the_stock_pattern_has_two_nat_gateways_and_costs_more_than_dev(dev, stock):
    stock_cost = report.monthly_cost(stock)
    dev_cost = report.monthly_cost(dev.templates[dev.service_stack])
    nat_gateways = [r for r in stock["Resources"].values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert len(nat_gateways) == 2
    assert stock_cost.line("NAT gateways").dollars == pytest.approx(65.70, abs=0.01)
    assert stock_cost.total > dev_cost.total
    # Same task on both sides: the Fargate part (on-demand and spot together) is no dearer in this app.
    fargate = ("Fargate", "Fargate Spot")
    assert sum(dev_cost.dollars(name) for name in fargate) <= sum(stock_cost.dollars(name) for name in fargate)


def test_main_prints_both_environments_the_price_source_and_the_goal(capsys):
    assert report.main([]) == 0
    out = capsys.readouterr().out
    assert PRICES.source_line in out
    assert "== dev: echo-fargate-dev vs stock" in out
    assert "== prod: echo-fargate-prod vs stock" in out
    assert "Goal dev < $36.00/month: dev costs $" in out
    assert out.count("Rolling deploy wait on the ALB") == 2
    assert "450 s" in out
