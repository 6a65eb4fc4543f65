"""deployment_strategy=blue_green: ECS-native blue/green with a bake time, an alternate target group and the
production listener rule ECS switches."""

from __future__ import annotations


def _service(synth) -> dict:
    (service,) = synth.template().find_resources("AWS::ECS::Service").values()
    return service["Properties"]


def test_rolling_by_default(dev, prod):
    for synth in (dev, prod):
        assert _service(synth)["DeploymentConfiguration"].get("Strategy", "ROLLING") == "ROLLING"
        synth.template().resource_count_is("AWS::ElasticLoadBalancingV2::TargetGroup", 1)


def test_blue_green_with_a_bake_time(hardened):
    config = _service(hardened)["DeploymentConfiguration"]
    assert config["Strategy"] == "BLUE_GREEN"
    assert config["BakeTimeInMinutes"] == 10


def test_the_service_knows_the_alternate_target_group_and_the_production_rule(hardened):
    template = hardened.template()
    groups = template.find_resources("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(groups) == 2
    (target,) = _service(hardened)["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("nginx", 80)
    advanced = target["AdvancedConfiguration"]
    assert advanced["AlternateTargetGroupArn"]["Ref"].startswith("LoadBalancerAlternateTargetGroup")
    assert advanced["ProductionListenerRule"]["Ref"].startswith("LoadBalancerProductionRule")
    assert target["TargetGroupArn"]["Ref"].startswith("LoadBalancerTargetGroup")


def test_traffic_goes_through_the_listener_rule(hardened):
    template = hardened.template()
    (rule,) = template.find_resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
    props = rule["Properties"]
    assert props["Priority"] == 1
    assert props["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    weights = {g["TargetGroupArn"]["Ref"].split("TargetGroup")[0]: g["Weight"]
               for g in props["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {"LoadBalancer": 100, "LoadBalancerAlternate": 0}
    listeners = template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
    (https,) = [listener["Properties"] for listener in listeners if listener["Properties"]["Port"] == 443]
    assert https["DefaultActions"][0]["Type"] == "fixed-response"  # nothing bypasses the rule
