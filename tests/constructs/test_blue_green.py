"""deployment_strategy=blue_green: ECS-native blue/green with a bake time, an alternate target group and the
production listener rule ECS switches."""

from __future__ import annotations

import json


def test_rolling_by_default(dev, prod):
    for synth in (dev, prod):
        assert synth.service["DeploymentConfiguration"].get("Strategy", "ROLLING") == "ROLLING"
        synth.template().resource_count_is("AWS::ElasticLoadBalancingV2::TargetGroup", 1)


def test_blue_green_with_a_bake_time(hardened):
    config = hardened.service["DeploymentConfiguration"]
    assert config["Strategy"] == "BLUE_GREEN"
    assert config["BakeTimeInMinutes"] == 10


def test_the_service_knows_the_alternate_target_group_and_the_production_rule(hardened):
    template = hardened.template()
    groups = template.find_resources("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(groups) == 2
    (target,) = hardened.service["LoadBalancers"]
    assert (target["ContainerName"], target["ContainerPort"]) == ("nginx", 80)
    advanced = target["AdvancedConfiguration"]
    assert advanced["AlternateTargetGroupArn"]["Ref"].startswith("LoadBalancerAlternateTargetGroup")
    assert advanced["ProductionListenerRule"]["Ref"].startswith("LoadBalancerProductionRule")
    assert target["TargetGroupArn"]["Ref"].startswith("LoadBalancerTargetGroup")


def test_traffic_goes_through_the_listener_rule(hardened):
    template = hardened.template()
    (rule,) = [r for key, r in template.find_resources("AWS::ElasticLoadBalancingV2::ListenerRule").items()
               if key.startswith("LoadBalancerProductionRule")]
    props = rule["Properties"]
    assert props["Priority"] == 10  # after the rule that closes the health path to clients (priority 1)
    assert props["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    weights = {g["TargetGroupArn"]["Ref"].split("TargetGroup")[0]: g["Weight"]
               for g in props["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {"LoadBalancer": 100, "LoadBalancerAlternate": 0}
    listeners = template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
    (https,) = [listener["Properties"] for listener in listeners if listener["Properties"]["Port"] == 443]
    assert https["DefaultActions"][0]["Type"] == "fixed-response"  # nothing bypasses the rule


def test_the_release_alarms_watch_both_target_groups(hardened):
    alarms = hardened.template().find_resources("AWS::CloudWatch::Alarm")
    expressions = {}
    for key, alarm in alarms.items():
        for name in ("Target5xx", "UnhealthyHosts", "P99Latency"):
            if key.startswith(f"Monitoring{name}"):
                metrics = alarm["Properties"]["Metrics"]
                (expression,) = [m["Expression"] for m in metrics if "Expression" in m]
                groups = {json.dumps(m["MetricStat"]["Metric"]["Dimensions"]) for m in metrics if "MetricStat" in m}
                assert any("AlternateTargetGroup" in g for g in groups) and len(groups) == 2, name
                expressions[name] = expression
    assert expressions == {"Target5xx": "FILL(m0, 0) + FILL(m1, 0)",
                           "UnhealthyHosts": "MAX([FILL(m0, 0), FILL(m1, 0)])", "P99Latency": "MAX([m0, m1])"}


def test_blue_green_scales_on_cpu_only(hardened, prod):
    def metrics(synth):
        policies = synth.template().find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
        return sorted(p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
                      ["PredefinedMetricType"] for p in policies)
    # Requests per target would follow one target group while traffic moves between two.
    assert metrics(hardened) == ["ECSServiceAverageCPUUtilization"]
    assert metrics(prod) == ["ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"]
