"""The Fargate service: where the tasks run, how they deploy, and that the ALB reaches nginx and only nginx."""

from __future__ import annotations


def test_load_balancer_targets_the_nginx_container_on_80_by_name(each_env):
    (target,) = each_env.service["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("nginx", 80)


def test_dev_runs_one_task(dev):
    assert dev.service["DesiredCount"] == 1
    dev.template().resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_rolling_deploys_keep_capacity_and_roll_back_on_failure(each_env):
    service = each_env.service
    config = service["DeploymentConfiguration"]
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (config["MinimumHealthyPercent"], config["MaximumPercent"]) == (100, 200)
    assert service["HealthCheckGracePeriodSeconds"] == 60


def test_prod_also_rolls_back_a_release_that_trips_its_alarms(prod, dev):
    config = prod.service["DeploymentConfiguration"]
    assert config["Alarms"]["Enable"] is True and config["Alarms"]["Rollback"] is True
    assert sorted(name["Ref"][:-8] for name in config["Alarms"]["AlarmNames"]) == [
        "MonitoringP99Latency", "MonitoringTarget5xx", "MonitoringUnhealthyHosts"]
    assert "Alarms" not in dev.service["DeploymentConfiguration"]  # monitoring=false in dev


def test_dev_tasks_run_in_public_subnets_with_a_public_ip(dev):
    network = dev.service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert all("PublicSubnet" in subnet["Ref"] for subnet in network["Subnets"])


def test_prod_tasks_run_in_private_subnets_without_a_public_ip(prod):
    network = prod.service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert len(network["Subnets"]) == 2
    assert all("PrivateSubnet" in subnet["Ref"] for subnet in network["Subnets"])


def test_tasks_accept_only_the_load_balancer_on_80(each_env):
    template = each_env.template()
    (task_group_id,) = [
        key for key, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if g["Properties"]["GroupDescription"].startswith("Echo tasks")
    ]
    ingress = [
        rule["Properties"] for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [task_group_id, "GroupId"]}
    ]
    assert len(ingress) == 1
    (rule,) = ingress
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (80, 80, "tcp")
    assert rule["SourceSecurityGroupId"]["Fn::GetAtt"][0].startswith("LoadBalancerSecurityGroup")
    assert "CidrIp" not in rule


def test_nothing_reaches_port_8080(each_env):
    template = each_env.template()
    rules = [r["Properties"] for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()]
    rules += [r for g in template.find_resources("AWS::EC2::SecurityGroup").values()
              for r in g["Properties"].get("SecurityGroupIngress", [])]
    assert rules
    assert all(not (r["FromPort"] <= 8080 <= r["ToPort"]) for r in rules)


def test_tasks_may_only_call_out_over_https(each_env):
    (group,) = [
        g["Properties"] for g in each_env.template().find_resources("AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("Echo tasks")
    ]
    assert [(r["CidrIp"], r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [
        ("0.0.0.0/0", "tcp", 443, 443)
    ]


def test_cluster_name_is_generated_unless_set(dev, tmp_path):
    from tests.synth import synthesize

    (cluster,) = dev.template().find_resources("AWS::ECS::Cluster").values()
    assert "ClusterName" not in cluster.get("Properties", {})
    named = synthesize("dev", tmp_path, cluster_name="joon")
    named.template().has_resource_properties("AWS::ECS::Cluster", {"ClusterName": "joon"})


def test_dev_runs_on_fargate_spot_prod_on_fargate(dev, prod):
    assert dev.service["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 100}]
    assert prod.service["CapacityProviderStrategy"] == [{"Base": 0, "CapacityProvider": "FARGATE", "Weight": 100}]
    for synth in (dev, prod):
        assert "LaunchType" not in synth.service  # capacity providers decide


def test_a_spot_share_keeps_one_task_on_regular_fargate(tmp_path):
    from tests.synth import synthesize

    strategy = synthesize("dev", tmp_path, spot="70").service["CapacityProviderStrategy"]
    assert strategy == [{"Base": 1, "CapacityProvider": "FARGATE", "Weight": 30},
                        {"CapacityProvider": "FARGATE_SPOT", "Weight": 70}]


def test_arm64_tasks_run_on_fargate_spot_too(tmp_path):
    """Fargate Spot runs ARM64 tasks on platform version 1.4.0 or later (ECS API reference,
    CapacityProviderStrategyItem; since 2024-09-06). The setting once refused the pair."""
    from tests.synth import synthesize

    arm = synthesize("dev", tmp_path, image_source="build", cpu_architecture="arm64")
    assert arm.task_definition["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert arm.service["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 100}]
    assert arm.service.get("PlatformVersion", "LATEST") in ("LATEST", "1.4.0")


def test_prod_scales_between_two_and_six_tasks_and_deploys_keep_the_count(prod):
    assert "DesiredCount" not in prod.service  # a deploy must not reset what the scaler chose
    template = prod.template()
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "MinCapacity": 2, "MaxCapacity": 6, "ScalableDimension": "ecs:service:DesiredCount"})
    policies = [p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                for p in template.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    by_metric = {p["PredefinedMetricSpecification"]["PredefinedMetricType"]: p["TargetValue"] for p in policies}
    assert by_metric == {"ECSServiceAverageCPUUtilization": 60, "ALBRequestCountPerTarget": 1000}


def test_container_insights_and_exec_follow_the_settings(dev, prod, tmp_path):
    from tests.synth import synthesize

    def insights(synth):
        (cluster,) = synth.template().find_resources("AWS::ECS::Cluster").values()
        return cluster["Properties"]["ClusterSettings"]
    assert insights(dev) == [{"Name": "containerInsights", "Value": "disabled"}]
    assert insights(prod) == [{"Name": "containerInsights", "Value": "enabled"}]
    assert "EnableExecuteCommand" not in dev.service or dev.service["EnableExecuteCommand"] is False
    assert synthesize("dev", tmp_path, enable_exec="true").service["EnableExecuteCommand"] is True
