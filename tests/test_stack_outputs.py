"""What `cdk deploy` prints at the end: where the service answers and where to look when it does not."""

from __future__ import annotations


def test_outputs_name_the_url_cluster_service_and_log_groups(each_env):
    outputs = each_env.template().find_outputs("*")
    alarm_topic = {"AlarmTopicArn"} if each_env.env == "prod" else set()  # dev runs without monitoring
    assert set(outputs) == {"ServiceUrl", "ClusterName", "ServiceName", "EchoLogGroup", "NginxLogGroup"} | alarm_topic
    url = outputs["ServiceUrl"]["Value"]
    if each_env.env == "prod":  # HTTPS at its domain
        assert url == "https://echo.example.com"
    else:
        assert url["Fn::Join"][1][0] == "http://"
        assert url["Fn::Join"][1][1]["Fn::GetAtt"][1] == "DNSName"
    assert outputs["ClusterName"]["Value"]["Ref"].startswith("ServiceCluster")
    assert outputs["ServiceName"]["Value"]["Fn::GetAtt"][1] == "Name"
    assert outputs["EchoLogGroup"]["Value"]["Ref"].startswith("TaskEchoLogs")
    assert outputs["NginxLogGroup"]["Value"]["Ref"].startswith("TaskNginxLogs")


def test_prod_is_protected_from_accidental_deletion(dev, prod):
    assert _stack_artifact(prod)["properties"].get("terminationProtection") is True
    assert not _stack_artifact(dev)["properties"].get("terminationProtection")


def test_everything_is_tagged_with_project_and_environment(each_env):
    tagged = [r for r in each_env.template().to_json()["Resources"].values()
              if isinstance(r.get("Properties", {}).get("Tags"), list)]
    assert {r["Type"] for r in tagged} >= {"AWS::EC2::VPC", "AWS::ECS::Service", "AWS::ECS::Cluster",
                                           "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::Logs::LogGroup"}
    for resource in tagged:
        assert {"Key": "environment", "Value": each_env.env} in resource["Properties"]["Tags"], resource["Type"]
        assert {"Key": "project", "Value": "echo-fargate"} in resource["Properties"]["Tags"], resource["Type"]


def _stack_artifact(synth) -> dict:
    return synth.manifest["artifacts"][synth.service_stack]
