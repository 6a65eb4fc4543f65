"""Small hand-made CloudFormation templates the cost report's tests price to the cent."""

from __future__ import annotations


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
