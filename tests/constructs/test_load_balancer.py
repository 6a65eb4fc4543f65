"""The load balancer: public listener on 80, IP target group with fast health checks, locked-down groups."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.synth import synthesize

STOCK_ROLLOUT_WAIT = 30 * 5 + 300  # ELB defaults: 30 s interval x 5 healthy checks + 300 s drain


def _target_group(synth) -> dict:
    (group,) = synth.template().find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    return group["Properties"]


def _attributes(group: dict) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in group.get("TargetGroupAttributes", [])}


def rollout_wait(synth) -> int:
    """What a rolling deploy spends on the load balancer, read from the template, not from the settings."""
    group = _target_group(synth)
    drain = int(_attributes(group).get("deregistration_delay.timeout_seconds", 300))
    return group["HealthCheckIntervalSeconds"] * group["HealthyThresholdCount"] + drain


def test_internet_facing_alb_in_public_subnets(each_env):
    template = each_env.template()
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "Scheme": "internet-facing",
        "Type": "application",
        "LoadBalancerAttributes": Match.array_with([
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}
        ]),
    })


def test_the_traffic_listener_forwards_to_the_target_group(each_env):
    port, protocol = (443, "HTTPS") if each_env.env == "prod" else (80, "HTTP")
    each_env.template().has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {
        "Port": port,
        "Protocol": protocol,
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": Match.string_like_regexp("TargetGroup")}}],
    })


def _rules(synth) -> dict[str, dict]:
    return {key: rule["Properties"] for key, rule in
            synth.template().find_resources("AWS::ElasticLoadBalancingV2::ListenerRule").items()}


def test_clients_get_404_for_the_health_path_which_the_checks_still_reach(prod, hardened):
    for synth in (prod, hardened):
        (hidden,) = [rule for key, rule in _rules(synth).items() if key.startswith("LoadBalancerHideHealthCheckPath")]
        assert hidden["Priority"] == 1  # before any rule that forwards
        assert hidden["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/healthz"]}}]
        assert hidden["Actions"] == [{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "Not Found"}}]
        # on the listener that carries the traffic (HTTPS; HTTP only redirects)
        assert hidden["ListenerArn"]["Ref"].startswith("LoadBalancerHttps")
        assert _target_group(prod)["HealthCheckPath"] == "/healthz"  # not through the listener: unaffected


def test_with_the_public_images_the_health_path_is_slash_and_stays_open(dev):
    assert _target_group(dev)["HealthCheckPath"] == "/"
    assert not _rules(dev)


def test_prod_protects_its_load_balancer_from_deletion(dev, prod):
    def attributes(synth):
        (lb,) = synth.template().find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
        return {a["Key"]: a["Value"] for a in lb["Properties"]["LoadBalancerAttributes"]}
    assert attributes(prod)["deletion_protection.enabled"] == "true"
    assert attributes(dev).get("deletion_protection.enabled", "false") == "false"


def test_ip_target_group_with_the_configured_health_check(dev):
    group = _target_group(dev)
    assert (group["TargetType"], group["Port"], group["Protocol"]) == ("ip", 80, "HTTP")
    assert group["HealthCheckPath"] == "/"
    assert group["Matcher"] == {"HttpCode": "200"}
    assert group["HealthCheckIntervalSeconds"] == 10
    assert group["HealthCheckTimeoutSeconds"] == 5
    assert group["HealthyThresholdCount"] == 2
    assert group["UnhealthyThresholdCount"] == 2
    assert _attributes(group)["deregistration_delay.timeout_seconds"] == "10"


def test_rolling_deploy_waits_at_most_30s_on_the_load_balancer(each_env):
    assert rollout_wait(each_env) <= 30
    assert rollout_wait(each_env) * 15 <= STOCK_ROLLOUT_WAIT


def test_health_check_settings_reach_the_target_group(tmp_path):
    synth = synthesize("dev", tmp_path, health_check_path="/healthz", health_check_success_codes="200-299",
                       health_check_interval="30", health_check_timeout="6", healthy_threshold="3",
                       unhealthy_threshold="4", deregistration_delay="45")
    group = _target_group(synth)
    assert group["HealthCheckPath"] == "/healthz"
    assert group["Matcher"] == {"HttpCode": "200-299"}
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (30, 6)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (3, 4)
    assert rollout_wait(synth) == 30 * 3 + 45


def test_alb_accepts_port_80_from_anywhere_by_default_and_nothing_else(dev):
    (group,) = [
        g["Properties"] for g in dev.template().find_resources("AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("Load balancer")
    ]
    assert group["SecurityGroupIngress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTP from 0.0.0.0/0", "FromPort": 80, "IpProtocol": "tcp",
         "ToPort": 80}
    ]
    # No inline egress: CDK dropped its "disallow all" placeholder because the one egress rule below exists,
    # and any explicit egress rule removes EC2's implicit allow-all.
    assert "SecurityGroupEgress" not in group


def test_alb_egress_reaches_only_the_tasks_on_80(dev):
    (egress,) = dev.template().find_resources("AWS::EC2::SecurityGroupEgress").values()
    props = egress["Properties"]
    assert (props["FromPort"], props["ToPort"], props["IpProtocol"]) == (80, 80, "tcp")
    assert "TaskSecurityGroup" in props["DestinationSecurityGroupId"]["Fn::GetAtt"][0]


def test_ingress_cidrs_narrow_the_entrance(tmp_path):
    synth = synthesize("dev", tmp_path, ingress_cidrs="203.0.113.0/24,198.51.100.7/32")
    (group,) = [
        g["Properties"] for g in synth.template().find_resources("AWS::EC2::SecurityGroup").values()
        if g["Properties"]["GroupDescription"].startswith("Load balancer")
    ]
    assert sorted(rule["CidrIp"] for rule in group["SecurityGroupIngress"]) == ["198.51.100.7/32", "203.0.113.0/24"]
    assert all(rule["FromPort"] == rule["ToPort"] == 80 for rule in group["SecurityGroupIngress"])
    # With no 0.0.0.0/0 rule there is nothing for cdk-nag to acknowledge.
    acknowledged = {v["ruleName"] for r in synth.validation_report["pluginReports"]
                    for v in r["suppressedViolations"]}
    assert "AwsSolutions-EC23" not in acknowledged
