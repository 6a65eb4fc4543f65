"""A local AWS for `make local`: moto's server, with the CloudFormation behaviours `cdk deploy` needs
and moto 5.2.5 gets wrong, fixed to match AWS. Nothing else is changed, and no template changes for it.

1. DeleteChangeSet of a change set that does not exist: AWS succeeds as long as the stack exists (the CDK
   CLI relies on this before every update); moto fails with an UnboundLocalError (HTTP 500).
2. DescribeChangeSet of a change set that does not exist: AWS answers ChangeSetNotFound (404), which the
   CDK CLI waits for after that delete; moto answers ValidationError "Stack ... does not exist".
3. A parameter of type AWS::SSM::Parameter::Value (CDK's BootstrapVersion) with UsePreviousValue on an
   update: AWS reuses the parameter's name and resolves it again; moto reuses the resolved value ("33")
   as if it were the name, finds no such SSM parameter and fails with an AttributeError (HTTP 500).
4. Deleting a stack with an AWS::EC2::RouteTable (every CDK VPC): moto cannot delete route tables through
   CloudFormation, so the VPC keeps them and its own deletion fails with "has dependencies"
   (`cdk destroy` fails, half-done). The route table's subnet associations go with the stack too.
5. AWS::ECR::Repository: moto keeps the template's ImageScanningConfiguration in CloudFormation's casing
   (`ScanOnPush`), which its ECR API then does not see (DescribeRepositories shows no scan on push), and
   drops the LifecyclePolicy. AWS applies both.
6. UpdateTerminationProtection: moto does not implement it (HTTP 500), and `cdk deploy` calls it for every
   stack whose protection differs from the stack's (the shared registry and CI stacks turn it on).
7. ExecuteChangeSet: AWS recomputes the stack's outputs from the new template; moto keeps the outputs of
   the template the stack was created with (none, for a stack created through a change set), so
   `cdk deploy` prints no outputs and the verifier finds none.
8. CreateChangeSet with ImportExistingResources (`cdk deploy --import-existing-resources`): AWS adopts a
   resource that already exists under the template's static name when it has a Retain deletion policy
   and belongs to no other stack; moto ignores the flag and fails the execution with
   RepositoryAlreadyExistsException. Fixed for AWS::ECR::Repository, the one kind this app retains by
   name: the registry's repositories outlive `cdk destroy` by design, and deploying the registry again
   must adopt them.
9. Change sets named without an ARN: AWS scopes the name to the StackName given (every stack of a
   `cdk deploy --all` has its own `cdk-deploy-change-set`); moto ignores the StackName, so deleting one
   stack's change set deletes another's, and DescribeChangeSet then finds yet another: the CLI, which
   waits for its change set to be gone before creating the next, waits forever (a stack deployed
   again after another stack's deploy, or after `cdk destroy`, whose change sets moto keeps).
10. ECS services: moto runs no containers, so a service's runningCount stays 0 (moto's own
   MOTO_ECS_SERVICE_RUNNING fixes it once, for every service alike) and it never becomes stable, which is
   what `cdk deploy --hotswap` waits for after its service update (ECS's servicesStable: one deployment,
   runningCount = desiredCount); make local-deploy-fast would wait forever. The local AWS reports each
   service at its steady state, its desired tasks running and its deployment completed, as a service whose
   tasks start would be: make local runs the task on this machine. make local-status and the verifier still
   report the running tasks, the rollout and the targets as `skip`: what the emulator says of them is not
   a running task.
11. Custom::VpcRestrictDefaultSG (CDK's `restrict_default_security_group`): AWS runs CDK's handler in a Lambda
   function, which revokes the default security group's two default rules (all traffic out to 0.0.0.0/0, all
   traffic in from the group itself) and answers CloudFormation. moto runs Lambda functions only in Docker,
   which `make local` does not have: the custom resource never answers and the stack never completes. The
   local AWS does what that handler does on Create, and leaves every other custom resource to moto.

    .venv/bin/python -m local.aws --port 4566      # what `make local` starts
"""

from __future__ import annotations

import argparse
import sys
import threading

from moto import server
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.models import CloudFormationBackend, Stack, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.ecr.models import Repository, ecr_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service

# moto's own versions, called by the fixes; taken before any fix is installed.
_original_execute_change_set = CloudFormationBackend.execute_change_set
_original_stack_parameters = Stack.stack_parameters
_original_create_repository = Repository.create_from_cloudformation_json.__func__
_original_create_change_set_response = CloudFormationResponse.create_change_set
_original_create_service = EC2ContainerServiceBackend.create_service
_original_update_service = EC2ContainerServiceBackend.update_service
_original_create_custom = CustomModel.create_from_cloudformation_json.__func__
_SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value"
RESTRICT_DEFAULT_SG = "Custom::VpcRestrictDefaultSG"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"

    def __init__(self, change_set_name: str) -> None:
        super().__init__(f"ChangeSet [{change_set_name}] does not exist")
        self.code = "ChangeSetNotFound"
        self.status_code = 404


def _matching_change_sets(backend: CloudFormationBackend, change_set_name: str, stack_name: str | None = None):
    """By ARN, or by name within the stack `stack_name` (name or id) as AWS scopes it (fixes 1, 2, 9), oldest
    first. moto may hold several: it keeps the change sets of deleted stacks, and lets a name be reused."""
    if change_set := backend.change_sets.get(change_set_name):  # an ARN
        return [change_set]
    return [cs for cs in backend.change_sets.values() if cs.change_set_name == change_set_name
            and (stack_name is None or stack_name in (cs.stack_name, cs.stack_id))]


def _find_change_set(backend: CloudFormationBackend, change_set_name: str, stack_name: str | None = None):
    """The newest change set of that name (as moto's own lookup picks), or None."""
    return next(reversed(_matching_change_sets(backend, change_set_name, stack_name)), None)


# The change set being executed asked to import existing resources (fix 8). moto's server handles one
# request at a time per thread; a thread-local keeps two concurrent executions apart all the same.
_importing = threading.local()


def _named_change_set(response: CloudFormationResponse, *, required: bool):
    """The change set a request names (ARN, or name within its StackName), or None (fix 9)."""
    name, stack_name = response._get_param("ChangeSetName"), response._get_param("StackName")
    by_stack = None if name.startswith("arn:") else stack_name
    change_set = _find_change_set(response.cloudformation_backend, name, by_stack)
    if change_set is None and required:
        raise ChangeSetNotFound(name)
    return change_set


def _delete_change_set_response(self: CloudFormationResponse) -> EmptyResult:
    # AWS: a missing one is no error (fix 1). Every one moto holds under that name in that stack goes, so
    # that the name is then free, as the CLI waits for it to be.
    name, stack_name = self._get_param("ChangeSetName"), self._get_param("StackName")
    backend = self.cloudformation_backend
    for change_set in _matching_change_sets(backend, name, None if name.startswith("arn:") else stack_name):
        del backend.change_sets[change_set.change_set_id]
    return EmptyResult()


def _describe_change_set_response(self: CloudFormationResponse) -> ActionResult:
    return ActionResult(_named_change_set(self, required=True))


def _execute_change_set_response(self: CloudFormationResponse) -> EmptyResult:
    change_set = _named_change_set(self, required=True)
    self.cloudformation_backend.execute_change_set(change_set_name=change_set.change_set_id,
                                                   stack_name=self._get_param("StackName"))
    return EmptyResult()


def _create_change_set_response(self: CloudFormationResponse) -> ActionResult:
    result = _original_create_change_set_response(self)
    if self._get_bool_param("ImportExistingResources", False):
        change_set = _find_change_set(self.cloudformation_backend, self._get_param("ChangeSetName"),
                                      self._get_param("StackName"))
        change_set.import_existing_resources = True
    return result


def _execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    pending = _find_change_set(self, change_set_name, stack_name)
    _importing.on = bool(pending is not None and getattr(pending, "import_existing_resources", False))
    try:
        _original_execute_change_set(self, change_set_name, stack_name)
    finally:
        _importing.on = False
    change_set = _find_change_set(self, change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    for export in stack.exports:
        self.exports[export.name] = export


def _stack_parameters(self: Stack) -> dict:
    parameters = dict(_original_stack_parameters.fget(self))
    for name, slot in (self.template_dict or {}).get("Parameters", {}).items():
        if name in parameters and slot.get("Type", "").startswith(_SSM_PARAMETER_TYPE):
            parameters[name] = (self.parameters or {}).get(name) or slot.get("Default")
    return parameters


def _delete_route_table(cls, resource_name: str, cloudformation_json: dict, account_id: str,
                        region_name: str) -> None:
    backend = ec2_backends[account_id][region_name]
    route_table = backend.get_route_table(resource_name)
    for association_id in list(route_table._associations):
        backend.disassociate_route_table(association_id)
    backend.delete_route_table(resource_name)


def _adoptable_repository(cloudformation_json: dict, account_id: str, region_name: str) -> Repository | None:
    """The existing repository a change set with ImportExistingResources adopts, as AWS decides: the
    template names it statically, retains it, and no live stack holds it already."""
    name = cloudformation_json.get("Properties", {}).get("RepositoryName")
    if not (getattr(_importing, "on", False) and isinstance(name, str)
            and cloudformation_json.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")):
        return None
    repository = ecr_backends[account_id][region_name].repositories.get(name)
    if repository is None:
        return None
    # _parsed_resources: what each stack has created (reading resource_map itself would create the rest).
    for backend in cloudformation_backends[account_id].values():
        for stack in backend.stacks.values():
            if stack.status != "DELETE_COMPLETE" and any(
                    resource is repository for resource in stack.resource_map._parsed_resources.values()):
                return None  # another stack's: AWS refuses, and so does moto's own error
    return repository


def _create_repository(cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str,
                       **kwargs) -> Repository:
    if adopted := _adoptable_repository(cloudformation_json, account_id, region_name):
        return adopted  # imported as it is: an import changes no property (drift detection would show any)
    properties = dict(cloudformation_json.get("Properties", {}))
    if scanning := properties.get("ImageScanningConfiguration"):
        properties["ImageScanningConfiguration"] = {"scanOnPush": scanning.get("ScanOnPush", False)}
    repository = _original_create_repository(cls, resource_name, {**cloudformation_json, "Properties": properties},
                                             account_id, region_name, **kwargs)
    if policy := properties.get("LifecyclePolicy", {}).get("LifecyclePolicyText"):
        ecr_backends[account_id][region_name].put_lifecycle_policy(repository.registry_id, repository.name, policy)
    return repository


def _update_termination_protection(self: CloudFormationResponse) -> ActionResult:
    (stack,) = self.cloudformation_backend.describe_stacks(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
    return ActionResult({"StackId": stack.stack_id})


def _at_steady_state(backend: EC2ContainerServiceBackend, service: Service) -> Service:
    """The service's desired tasks running and its deployment completed (fix 10); the cluster counts them."""
    cluster = backend._get_cluster(service.cluster_name)
    backend.update_cluster_resources(cluster, service.desired_count - service.running_count, task_state="RUNNING")
    backend.update_cluster_resources(cluster, -service.pending_count, task_state="PENDING")
    service.running_count, service.pending_count = service.desired_count, 0
    for deployment in service.deployments:
        deployment.update(runningCount=service.desired_count, pendingCount=0, rolloutState="COMPLETED",
                          rolloutStateReason=f"ECS deployment {deployment['id']} completed.")
    return service


def _create_service(self: EC2ContainerServiceBackend, *args, **kwargs) -> Service:
    return _at_steady_state(self, _original_create_service(self, *args, **kwargs))


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict) -> Service:
    keeps_its_count = service_properties.get("desired_count") is None
    service = _original_update_service(self, service_properties)
    if keeps_its_count:  # moto took the service's running tasks off its cluster and, with no new count, left them off
        self.update_cluster_resources(self._get_cluster(service.cluster_name), service.running_count,
                                      task_state="RUNNING")
    return _at_steady_state(self, service)


def _create_custom_resource(cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str,
                            **kwargs) -> CustomModel:
    if kwargs.get("ResourceType") != RESTRICT_DEFAULT_SG:
        return _original_create_custom(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    group_id = cloudformation_json["Properties"]["DefaultSecurityGroupId"]
    backend = ec2_backends[account_id][region_name]
    group = backend.get_security_group_from_id(group_id)
    # The handler's two revocations (aws-cdk custom-resource-handlers, restrict-default-security-group-handler).
    egress = [rule.id for rule in group.egress_rules
              if rule.ip_protocol == "-1" and rule.ip_range.get("CidrIp") == "0.0.0.0/0"]
    ingress = [rule.id for rule in group.ingress_rules
               if rule.ip_protocol == "-1" and rule.source_group.get("GroupId") == group_id]
    if egress:
        backend.revoke_security_group_egress(group_id, "-1", None, None, [], security_rule_ids=egress)
    if ingress:
        backend.revoke_security_group_ingress(group_id, "-1", None, None, [], security_rule_ids=ingress)
    custom = CustomModel(region_name, "local", kwargs["LogicalId"], resource_name)
    custom.set_data({})  # answered: the stack goes on, as it does once the handler reports SUCCESS
    return custom


_FIXES = [
    (CloudFormationBackend, "execute_change_set", _execute_change_set),
    (Stack, "stack_parameters", property(_stack_parameters)),
    (RouteTable, "delete_from_cloudformation_json", classmethod(_delete_route_table)),
    (Repository, "create_from_cloudformation_json", classmethod(_create_repository)),
    (CloudFormationResponse, "update_termination_protection", _update_termination_protection),
    (CloudFormationResponse, "create_change_set", _create_change_set_response),
    (CloudFormationResponse, "delete_change_set", _delete_change_set_response),
    (CloudFormationResponse, "describe_change_set", _describe_change_set_response),
    (CloudFormationResponse, "execute_change_set", _execute_change_set_response),
    (EC2ContainerServiceBackend, "create_service", _create_service),
    (EC2ContainerServiceBackend, "update_service", _update_service),
    (CustomModel, "create_from_cloudformation_json", classmethod(_create_custom_resource)),
]
_ORIGINALS = {(owner, name): owner.__dict__.get(name) for owner, name, _ in _FIXES}


def install_fixes() -> None:
    for owner, name, fix in _FIXES:
        setattr(owner, name, fix)


def remove_fixes() -> None:
    """Back to moto as released (the tests show each fix is needed)."""
    for (owner, name), original in _ORIGINALS.items():
        if original is None:
            if name in owner.__dict__:
                delattr(owner, name)
        else:
            setattr(owner, name, original)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's server with the fixes `cdk deploy` needs")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    install_fixes()
    # The CDK CLI must reach it as `localhost`: moto finds S3 buckets in template URLs by that host name.
    server.main(["--host", "localhost", "--port", str(args.port)])


if __name__ == "__main__":
    sys.exit(main())
