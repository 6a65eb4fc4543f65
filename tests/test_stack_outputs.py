"""What `cdk deploy` prints at the end: where the service answers and where to look when it does not."""

from __future__ import annotations


def test_outputs_name_the_url_cluster_service_and_log_groups(each_env):
    outputs = each_env.template().find_outputs("*")
    alarm_topic = {"AlarmTopicArn"} if each_env.env == "prod" else set()  # dev runs without monitoring
    assert set(outputs) == {"ServiceUrl", "ClusterName", "ServiceName", "EchoLogGroup", "NginxLogGroup"} | alarm_topic
    url = outputs["ServiceUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "http://"
    assert url[1]["Fn::GetAtt"][1] == "DNSName"
    assert outputs["ClusterName"]["Value"]["Ref"].startswith("ServiceCluster")
    assert outputs["ServiceName"]["Value"]["Fn::GetAtt"][1] == "Name"
    assert outputs["EchoLogGroup"]["Value"]["Ref"].startswith("TaskEchoLogs")
    assert outputs["NginxLogGroup"]["Value"]["Ref"].startswith("TaskNginxLogs")


def test_prod_is_protected_from_accidental_deletion(dev, prod):
    assert _stack_artifact(prod)["properties"].get("terminationProtection") is True
    assert not _stack_artifact(dev)["properties"].get("terminationProtection")


def test_everything_is_tagged_with_project_and_environment(each_env):
    tags = each_env.template().find_resources("AWS::EC2::VPC")
    (vpc,) = tags.values()
    assert {"Key": "environment", "Value": each_env.env} in vpc["Properties"]["Tags"]
    assert {"Key": "project", "Value": "echo-fargate"} in vpc["Properties"]["Tags"]


def _stack_artifact(synth) -> dict:
    return synth.manifest["artifacts"][synth.service_stack]
