"""The Fargate service: where the tasks run, how they deploy, and that the ALB reaches nginx and only nginx."""

from __future__ import annotations

import pytest


def _service(synth) -> dict:
    (service,) = synth.template().find_resources("AWS::ECS::Service").values()
    return service["Properties"]


def test_load_balancer_targets_the_nginx_container_on_80_by_name(each_env):
    (target,) = _service(each_env)["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("nginx", 80)


@pytest.mark.parametrize(("env", "count"), [("dev", 1), ("prod", 2)])
def test_desired_count_per_environment(synthesized, env, count):
    assert _service(synthesized[env])["DesiredCount"] == count


def test_rolling_deploys_keep_capacity_and_roll_back_on_failure(each_env):
    service = _service(each_env)
    assert service["LaunchType"] == "FARGATE"
    assert service["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        "MaximumPercent": 200,
        "MinimumHealthyPercent": 100,
    }
    assert service["HealthCheckGracePeriodSeconds"] == 60


def test_dev_tasks_run_in_public_subnets_with_a_public_ip(dev):
    network = _service(dev)["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert all("PublicSubnet" in subnet["Ref"] for subnet in network["Subnets"])


def test_prod_tasks_run_in_private_subnets_without_a_public_ip(prod):
    network = _service(prod)["NetworkConfiguration"]["AwsvpcConfiguration"]
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
