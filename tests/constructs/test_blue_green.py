"""deployment_strategy=blue_green: ECS-native blue/green with a bake time, an alternate target group and the
production listener rule ECS switches."""

from __future__ import annotations

import json

import pytest


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


# -- the test listener and the release gate -------------------------------------------------------------------------

def _listeners(synth) -> dict[int, dict]:
    return {listener["Properties"]["Port"]: listener["Properties"]
            for listener in synth.template().find_resources("AWS::ElasticLoadBalancingV2::Listener").values()}


def _rule(synth, prefix: str) -> dict:
    (rule,) = [r["Properties"] for key, r in synth.template().find_resources(
        "AWS::ElasticLoadBalancingV2::ListenerRule").items() if key.startswith(prefix)]
    return rule


def _gates(synth) -> list[dict]:
    """The release gate functions (CDK's default-security-group handler is a function too)."""
    return [r["Properties"] for r in synth.template().find_resources("AWS::Lambda::Function").values()
            if r["Properties"]["Handler"] == "gate.handler"]


def _gate(synth) -> dict:
    (gate,) = _gates(synth)
    return gate


def test_rolling_has_no_test_listener_and_no_gate(dev, prod):
    for synth in (dev, prod):
        assert not [port for port in _listeners(synth) if port not in (80, 443)]
        assert _gates(synth) == []


def test_the_test_listener_uses_the_certificate_on_8443_and_forwards_only_through_its_rule(hardened):
    test = _listeners(hardened)[8443]
    assert test["Protocol"] == "HTTPS" and test["Certificates"] == _listeners(hardened)[443]["Certificates"]
    assert test["DefaultActions"][0]["Type"] == "fixed-response"
    rule = _rule(hardened, "LoadBalancerTestRule")
    assert rule["ListenerArn"]["Ref"].startswith("LoadBalancerTest")
    weights = {g["TargetGroupArn"]["Ref"].split("TargetGroup")[0]: g["Weight"]
               for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {"LoadBalancer": 100, "LoadBalancerAlternate": 0}  # ECS moves it to the new tasks first
    (target,) = hardened.service["LoadBalancers"]
    assert target["AdvancedConfiguration"]["TestListenerRule"]["Ref"].startswith("LoadBalancerTestRule")


def _load_balancer_ingress(synth) -> list[dict]:
    (group,) = [g["Properties"] for g in synth.template().find_resources("AWS::EC2::SecurityGroup").values()
                if g["Properties"]["GroupDescription"].startswith("Load balancer")]
    return group["SecurityGroupIngress"]


def test_only_the_gates_nat_gateway_reaches_the_test_listener_by_default(hardened):
    test_rules = [rule for rule in _load_balancer_ingress(hardened) if rule["FromPort"] == 8443]
    (from_nat,) = test_rules  # prod has one NAT gateway, and test_ingress_cidrs is empty
    (eip, mask) = from_nat["CidrIp"]["Fn::Join"][1]
    eips = hardened.template().find_resources("AWS::EC2::EIP")
    assert eip["Ref"] in eips and mask == "/32"  # the NAT gateway's Elastic IP, one address


def test_test_ingress_cidrs_open_the_test_listener_to_them_too(tmp_path):
    from tests.synth import synthesize

    synth = synthesize("dev", tmp_path, deployment_strategy="blue_green", nat_gateways="1",
                       test_ingress_cidrs="203.0.113.0/24")
    test_rules = [rule for rule in _load_balancer_ingress(synth) if rule["FromPort"] == 8080]
    assert sorted(str(rule["CidrIp"]) for rule in test_rules if isinstance(rule["CidrIp"], str)) == ["203.0.113.0/24"]
    assert len(test_rules) == 2  # and the NAT gateway's address
    assert _listeners(synth)[8080]["Protocol"] == "HTTP"  # no certificate in this dev: plain HTTP
    gate = _gate(synth)
    url = gate["Environment"]["Variables"]["GATE_URL"]
    assert url["Fn::Join"][1][0] == "http://" and url["Fn::Join"][1][-1] == ":8080/"


def test_the_gate_runs_in_the_private_subnets_and_goes_out_to_the_test_port_only(hardened):
    gate = _gate(hardened)
    assert (gate["Runtime"], gate["Handler"], gate["Timeout"]) == ("python3.14", "gate.handler", 120)
    subnets = [s["Ref"] for s in gate["VpcConfig"]["SubnetIds"]]
    assert len(subnets) == 2 and all(s.startswith("NetworkVpcPrivateSubnet") for s in subnets)
    (group,) = [g["Properties"] for g in hardened.template().find_resources("AWS::EC2::SecurityGroup").values()
                if g["Properties"]["GroupDescription"].startswith("Release gate")]
    assert group["SecurityGroupEgress"] == [{"CidrIp": "0.0.0.0/0", "Description": "The test listener, at the load "
                                             "balancer's public addresses", "FromPort": 8443, "IpProtocol": "tcp",
                                             "ToPort": 8443}]
    assert "SecurityGroupIngress" not in group


def test_the_gate_checks_what_the_settings_say(hardened):
    assert _gate(hardened)["Environment"]["Variables"] == {
        "GATE_URL": "https://echo.example.com:8443/",  # the certificate's name, on the test port
        "GATE_REQUESTS": "20", "GATE_P99_MS": "500", "GATE_EXPECT_BODY": "Hello Docker!!",
        "GATE_TIMEOUT_SECONDS": "2", "GATE_AUTH_REQUIRED": "false"}


def test_the_gate_logs_to_its_own_group_with_retention(hardened):
    gate = _gate(hardened)
    group_id = gate["LoggingConfig"]["LogGroup"]["Ref"]
    group = hardened.template().find_resources("AWS::Logs::LogGroup")[group_id]
    assert group["Properties"]["RetentionInDays"] == 365 and group["DeletionPolicy"] == "Retain"  # prod's


def test_the_gates_role_may_write_its_logs_and_manage_its_network_interfaces_only(hardened):
    statements = hardened.policy_of("ReleaseGateRole")["PolicyDocument"]["Statement"]
    logs, network = statements
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"]["Fn::GetAtt"][0].startswith("ReleaseGateLogs")
    assert sorted(network["Action"]) == sorted([
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"])
    (role,) = [r["Properties"] for key, r in hardened.template().find_resources("AWS::IAM::Role").items()
               if key.startswith("ReleaseGateRole")]
    assert "ManagedPolicyArns" not in role and "PermissionsBoundary" in role


def test_ecs_calls_the_gate_after_test_traffic_moves_with_a_role_that_may_only_invoke_it(hardened):
    (hook,) = hardened.service["DeploymentConfiguration"]["LifecycleHooks"]
    assert hook["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
    assert hook["HookTargetArn"]["Fn::GetAtt"][0].startswith("ReleaseGateFunction")
    assert hook["RoleArn"]["Fn::GetAtt"][0].startswith("ReleaseGateHookRole")
    (statement,) = hardened.policy_of("ReleaseGateHookRole")["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    (role,) = [r["Properties"] for key, r in hardened.template().find_resources("AWS::IAM::Role").items()
               if key.startswith("ReleaseGateHookRole")]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}


def test_the_gates_code_is_the_release_gate_module_alone(hardened):
    assets = json.loads(next(hardened.outdir.glob("echo-fargate-prod.assets.json")).read_text())["files"]
    gate = _gate(hardened)
    (asset,) = [a for key, a in assets.items() if key in json.dumps(gate["Code"])]
    directory = hardened.outdir / asset["source"]["path"]
    assert sorted(path.name for path in directory.iterdir()) == ["gate.py", "probe.py"]


# -- what a deploy can do to the weights ECS set (aws-cdk #36649) ----------------------------------------------------

def _traffic_resources(synth) -> dict[str, dict]:
    """The rules ECS rewrites, the listeners they hang on and the target groups they name (which, replaced,
    would give the rules new ARNs): what a deploy must leave alone for ECS's weights to stay."""
    resources = synth.template().to_json()["Resources"]
    return {key: resource for key, resource in resources.items()
            if resource["Type"].removeprefix("AWS::ElasticLoadBalancingV2::") in ("ListenerRule", "Listener",
                                                                                   "TargetGroup")}


@pytest.mark.parametrize("change", [
    {"echo_environment": "RELEASE=2"}, {"cpu": "512", "memory": "1024"}, {"min_tasks": "3", "max_tasks": "8"},
    {"log_retention_days": "30"}, {"gate_p99_ms": "300"}, {"bake_time_minutes": "15"}, {"waf_rate_limit": "500"},
    {"alarm_email": "oncall@example.com"},
], ids=lambda change: ",".join(change))
def test_an_unrelated_change_leaves_every_rule_listener_and_target_group_as_it_was(hardened, tmp_path, change):
    from tests.conftest import CERTIFICATE_ARN
    from tests.synth import synthesize

    # the hardened fixture's settings (tests/conftest.py), then the change
    settings = {"certificate_arn": CERTIFICATE_ARN, "domain_name": "echo.example.com",
                "deployment_strategy": "blue_green", "bake_time_minutes": "10", "image_source": "build",
                "cpu_architecture": "arm64", "alarm_email": "ops@example.com"}
    changed = synthesize("prod", tmp_path, **{**settings, **change})
    assert changed.templates != hardened.templates  # the change is there...
    assert _traffic_resources(changed) == _traffic_resources(hardened)  # ...and not where the weights are
