"""Each fix local/aws.py makes to moto, shown necessary: the same calls fail on moto as released and
behave as AWS documents with the fix. In-process (moto's mock), no server needed."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import aws as local_aws

SSM_VERSION = "/cdk-bootstrap/hnb659fds/version"


@pytest.fixture(params=["moto as released", "with the fixes"])
def fixed(request, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    is_fixed = request.param == "with the fixes"
    if is_fixed:
        local_aws.install_fixes()
    try:
        with mock_aws():
            yield is_fixed
    finally:
        local_aws.remove_fixes()


def _template(*, queue: str = "Queue", outputs: bool = False, ssm_parameter: bool = False) -> str:
    template: dict = {"Resources": {queue: {"Type": "AWS::SQS::Queue"}}}
    if outputs:
        template["Outputs"] = {"QueueUrl": {"Value": {"Ref": queue}}}
    if ssm_parameter:
        template["Parameters"] = {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                                       "Default": SSM_VERSION}}
    return json.dumps(template)


def _deploy_through_change_set(cf, template: str, change_set_type: str, **kwargs) -> None:
    cf.create_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set", TemplateBody=template,
                         ChangeSetType=change_set_type, **kwargs)
    cf.execute_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")


def test_deleting_a_change_set_that_does_not_exist(fixed):
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="app", TemplateBody=_template())
    if fixed:
        cf.delete_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")  # AWS: succeeds
    else:
        with pytest.raises(UnboundLocalError):
            cf.delete_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")


def test_describing_a_change_set_that_does_not_exist(fixed):
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="app", TemplateBody=_template())
    with pytest.raises(ClientError) as raised:
        cf.describe_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")
    # The CDK CLI waits for exactly this error after deleting the previous change set.
    expected = "ChangeSetNotFound" if fixed else "ValidationError"
    assert raised.value.response["Error"]["Code"] == expected


def test_outputs_of_a_stack_created_through_a_change_set(fixed):
    cf = boto3.client("cloudformation")
    _deploy_through_change_set(cf, _template(outputs=True), "CREATE")
    outputs = cf.describe_stacks(StackName="app")["Stacks"][0].get("Outputs")
    if fixed:
        assert [o["OutputKey"] for o in outputs] == ["QueueUrl"]
    else:
        assert outputs is None


def test_updating_with_the_previous_value_of_an_ssm_parameter(fixed):
    boto3.client("ssm").put_parameter(Name=SSM_VERSION, Value="33", Type="String")
    cf = boto3.client("cloudformation")
    _deploy_through_change_set(cf, _template(ssm_parameter=True), "CREATE",
                               Parameters=[{"ParameterKey": "BootstrapVersion", "ParameterValue": SSM_VERSION}])
    update = _template(queue="Renamed", ssm_parameter=True)
    previous = [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}]
    if fixed:
        _deploy_through_change_set(cf, update, "UPDATE", Parameters=previous)
        assert cf.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    else:
        with pytest.raises(AttributeError):
            _deploy_through_change_set(cf, update, "UPDATE", Parameters=previous)


def test_deleting_a_stack_with_a_vpc_and_route_tables(fixed):
    template = {"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.0.0/24"}},
        "Routes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "Association": {"Type": "AWS::EC2::SubnetRouteTableAssociation",
                        "Properties": {"SubnetId": {"Ref": "Subnet"}, "RouteTableId": {"Ref": "Routes"}}},
    }}
    cf, ec2 = boto3.client("cloudformation"), boto3.client("ec2")
    cf.create_stack(StackName="app", TemplateBody=json.dumps(template))
    vpc_id = cf.describe_stack_resource(StackName="app", LogicalResourceId="Vpc")[
        "StackResourceDetail"]["PhysicalResourceId"]
    if fixed:
        cf.delete_stack(StackName="app")
        assert vpc_id not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    else:
        with pytest.raises(ClientError, match="has dependencies"):
            cf.delete_stack(StackName="app")
        assert vpc_id in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]


def test_an_ecr_repository_from_a_template_scans_on_push_and_has_its_lifecycle_policy(fixed):
    policy = json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 1, "countUnit": "days"},
        "action": {"type": "expire"}}]})
    template = {"Resources": {"Repository": {"Type": "AWS::ECR::Repository", "Properties": {
        "RepositoryName": "team/app", "ImageScanningConfiguration": {"ScanOnPush": True},
        "ImageTagMutability": "IMMUTABLE", "LifecyclePolicy": {"LifecyclePolicyText": policy}}}}}
    boto3.client("cloudformation").create_stack(StackName="app", TemplateBody=json.dumps(template))
    ecr = boto3.client("ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"  # moto gets this one right either way
    if fixed:
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert json.loads(ecr.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"]) == \
            json.loads(policy)
    else:
        assert repository["imageScanningConfiguration"] != {"scanOnPush": True}
        with pytest.raises(ClientError, match="LifecyclePolicyNotFound"):
            ecr.get_lifecycle_policy(repositoryName="team/app")


def test_turning_on_termination_protection(fixed):
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="app", TemplateBody=_template())
    if fixed:
        cf.update_termination_protection(StackName="app", EnableTerminationProtection=True)
        assert cf.describe_stacks(StackName="app")["Stacks"][0]["EnableTerminationProtection"] is True
    else:
        with pytest.raises(NotImplementedError, match="update_termination_protection"):
            cf.update_termination_protection(StackName="app", EnableTerminationProtection=True)


def test_a_change_set_importing_existing_resources_adopts_a_retained_repository(fixed):
    # The registry stack after `cdk destroy`: its repositories are retained, so they outlive the stack.
    template = json.dumps({"Resources": {"Repository": {
        "Type": "AWS::ECR::Repository", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
        "Properties": {"RepositoryName": "team/app"}}}})
    cf, ecr = boto3.client("cloudformation"), boto3.client("ecr")
    cf.create_stack(StackName="registry", TemplateBody=template)
    cf.delete_stack(StackName="registry")
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["team/app"]
    cf.create_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set", TemplateBody=template,
                         ChangeSetType="CREATE", ImportExistingResources=True)
    if fixed:
        cf.execute_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set")
        (stack,) = cf.describe_stacks(StackName="registry")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        (resource,) = cf.describe_stack_resources(StackName="registry")["StackResources"]
        assert resource["PhysicalResourceId"] == "team/app"
    else:
        with pytest.raises(ClientError, match="RepositoryAlreadyExistsException"):
            cf.execute_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set")


def test_without_import_existing_resources_a_retained_repository_still_collides(fixed):
    # The fix adopts only when asked, as AWS does: a plain change set fails on the existing name.
    template = json.dumps({"Resources": {"Repository": {
        "Type": "AWS::ECR::Repository", "DeletionPolicy": "Retain", "Properties": {"RepositoryName": "team/app"}}}})
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="registry", TemplateBody=template)
    cf.delete_stack(StackName="registry")
    cf.create_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set", TemplateBody=template,
                         ChangeSetType="CREATE")
    with pytest.raises(ClientError, match="RepositoryAlreadyExistsException"):
        cf.execute_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set")


def test_importing_does_not_take_a_repository_another_stack_holds(fixed):
    template = json.dumps({"Resources": {"Repository": {
        "Type": "AWS::ECR::Repository", "DeletionPolicy": "Retain", "Properties": {"RepositoryName": "team/app"}}}})
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="owner", TemplateBody=template)
    cf.create_change_set(StackName="other", ChangeSetName="cdk-deploy-change-set", TemplateBody=template,
                         ChangeSetType="CREATE", ImportExistingResources=True)
    with pytest.raises(ClientError, match="RepositoryAlreadyExistsException"):
        cf.execute_change_set(StackName="other", ChangeSetName="cdk-deploy-change-set")


def test_a_change_set_name_is_scoped_to_its_stack(fixed):
    # What `cdk deploy --all` leaves: each stack with its own change set of the same name.
    cf = boto3.client("cloudformation")
    for stack in ("registry", "service"):
        cf.create_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set", TemplateBody=_template(),
                             ChangeSetType="CREATE")
        cf.execute_change_set(StackName=stack, ChangeSetName="cdk-deploy-change-set")
    # The CLI before updating `service`: delete its previous change set, then wait until it is gone.
    cf.delete_change_set(StackName="service", ChangeSetName="cdk-deploy-change-set")
    if fixed:
        with pytest.raises(ClientError, match="ChangeSetNotFound"):
            cf.describe_change_set(StackName="service", ChangeSetName="cdk-deploy-change-set")
        kept = cf.describe_change_set(StackName="registry", ChangeSetName="cdk-deploy-change-set")
        assert kept["StackName"] == "registry"
    else:  # registry's was deleted instead, and service's is still there: the CLI would wait forever
        found = cf.describe_change_set(StackName="service", ChangeSetName="cdk-deploy-change-set")
        assert found["StackName"] == "service"
        assert [s["StackName"] for s in cf.list_change_sets(StackName="service")["Summaries"]] == ["service"]


def test_a_stack_deployed_again_after_its_deletion_can_replace_its_change_set(fixed):
    cf = boto3.client("cloudformation")
    _deploy_through_change_set(cf, _template(), "CREATE")
    cf.delete_stack(StackName="app")  # moto keeps the deleted stack's change sets
    _deploy_through_change_set(cf, _template(queue="Again"), "CREATE")  # the same names, a new stack
    # The CLI's next update of it: delete the previous change set, then wait until it is gone.
    cf.delete_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")
    if fixed:
        with pytest.raises(ClientError, match="ChangeSetNotFound"):
            cf.describe_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")
    else:  # one of the two is still there: the CLI would wait forever
        assert cf.describe_change_set(StackName="app", ChangeSetName="cdk-deploy-change-set")["ChangeSetName"]


def _cluster_and_service(desired: int):
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="app")
    family = ecs.register_task_definition(family="echo", containerDefinitions=[
        {"name": "echo", "image": "echo:1", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="app", serviceName="svc", taskDefinition=family, desiredCount=desired)
    return ecs


def test_a_service_reaches_the_steady_state_a_hotswap_waits_for(fixed):
    ecs = _cluster_and_service(desired=2)
    # What the CDK CLI's hotswap does after registering the new task definition, then waits on.
    revision = ecs.register_task_definition(family="echo", containerDefinitions=[
        {"name": "echo", "image": "echo:2", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="app", service="svc", taskDefinition=revision, forceNewDeployment=True)
    (service,) = ecs.describe_services(cluster="app", services=["svc"])["services"]
    stable = len(service["deployments"]) == 1 and service["runningCount"] == service["desiredCount"]
    if fixed:
        assert stable and service["deployments"][0]["rolloutState"] == "COMPLETED"
        (cluster,) = ecs.describe_clusters(clusters=["app"])["clusters"]
        assert (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (2, 0)
        # the waiter's own verdict, on its first look: no delay, no timeout
        ecs.get_waiter("services_stable").wait(cluster="app", services=["svc"],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 1})
    else:
        assert not stable and service["runningCount"] == 0  # servicesStable never comes: hotswap waits forever


def test_a_new_desired_count_is_reached_too(fixed):
    ecs = _cluster_and_service(desired=1)
    ecs.update_service(cluster="app", service="svc", desiredCount=3)
    (service,) = ecs.describe_services(cluster="app", services=["svc"])["services"]
    assert service["runningCount"] == 3  # moto as released sets this one itself
    assert service["deployments"][0]["runningCount"] == (3 if fixed else 0)


def test_the_vpcs_default_security_group_loses_its_rules_as_cdks_handler_removes_them(fixed):
    template = {"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "HandlerRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
        "Handler": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "nodejs24.x", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["HandlerRole", "Arn"]},
            "Code": {"ZipFile": "exports.handler = async () => {}"}}},
        # What CDK's restrict_default_security_group=True adds to a VPC.
        "RestrictDefaultSecurityGroup": {"Type": local_aws.RESTRICT_DEFAULT_SG, "Properties": {
            "ServiceToken": {"Fn::GetAtt": ["Handler", "Arn"]},
            "DefaultSecurityGroupId": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]},
            "Account": {"Ref": "AWS::AccountId"}}},
    }}
    cf, ec2 = boto3.client("cloudformation"), boto3.client("ec2")
    cf.create_stack(StackName="app", TemplateBody=json.dumps(template))
    (stack,) = cf.describe_stacks(StackName="app")["Stacks"]
    vpc_id = cf.describe_stack_resource(StackName="app", LogicalResourceId="Vpc")[
        "StackResourceDetail"]["PhysicalResourceId"]
    (default,) = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                       {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    if fixed:
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == []
    else:  # moto hands the event to a Lambda function it can run only in Docker: no answer ever comes
        assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
        assert default["IpPermissionsEgress"]  # (moto's default group has AWS's egress rule, not its ingress one)
