"""The blue/green trap (aws-cdk #36649), as far as the local AWS shows it: after ECS has moved production to the
alternate target group, a later deploy must not send traffic back to the now-empty primary group.

CloudFormation updates a resource only when its own template properties (or what they resolve to) change; a
change set compares the new template with the previous one, never with what runs. So the change set of an
unrelated change lists no listener, rule or target group, and the weights ECS set stay. A change to the rule
itself is listed, and executing it writes the template's weights back: the trap. Both are shown here with the
real CDK CLI against the local AWS, ECS's shift simulated with elbv2's ModifyRule (the local AWS runs no ECS
deployments). What only AWS can settle is the check in docs/operating.md ("Blue/green releases").
"""

from __future__ import annotations

import json

import boto3
import pytest

from tests.integration.conftest import CI_IDS, STACK, bootstrap, cdk

pytestmark = pytest.mark.integration
BLUE_GREEN = ("-c", "env=dev", *CI_IDS, "-c", "deployment_strategy=blue_green", "-c", "nat_gateways=1")
LOAD_BALANCING = "AWS::ElasticLoadBalancingV2::"


class Deployed:
    def __init__(self, env: dict[str, str]) -> None:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        self.cloudformation = session.client("cloudformation", endpoint_url=env["AWS_ENDPOINT_URL"])
        self.elbv2 = session.client("elbv2", endpoint_url=env["AWS_ENDPOINT_URL"])
        resources = {r.get("LogicalResourceId", ""): r.get("PhysicalResourceId") for r in
                     self.cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]}
        self.rule = self._one(resources, "LoadBalancerProductionRule")
        self.blue = self._one(resources, "LoadBalancerTargetGroup")
        self.green = self._one(resources, "LoadBalancerAlternateTargetGroup")

    @staticmethod
    def _one(resources: dict[str, str], prefix: str) -> str:
        (physical,) = [value for key, value in resources.items() if key.startswith(prefix)]
        return physical

    def weights(self) -> dict[str, int]:
        (rule,) = self.elbv2.describe_rules(RuleArns=[self.rule])["Rules"]
        names = {self.blue: "blue", self.green: "green"}
        return {names[group["TargetGroupArn"]]: group["Weight"]
                for group in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}

    def shift_to_green(self) -> None:
        """What ECS does to the production rule at the end of a blue/green deployment."""
        self.elbv2.modify_rule(RuleArn=self.rule, Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": self.blue, "Weight": 0}, {"TargetGroupArn": self.green, "Weight": 100}]}}])

    def changes(self, change_set: str) -> list[tuple[str, str, str]]:
        described = self.cloudformation.describe_change_set(StackName=STACK, ChangeSetName=change_set)
        return [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"],
                 c["ResourceChange"]["ResourceType"]) for c in described["Changes"]]


@pytest.fixture(scope="module")
def deployed(local_aws, policy_assembly, tmp_path_factory):
    bootstrap(local_aws, policy_assembly)
    cdk(local_aws, tmp_path_factory.mktemp("blue-green"), "deploy", STACK, "--exclusively", "--require-approval",
        "never", *BLUE_GREEN)
    stack = Deployed(local_aws)
    assert stack.weights() == {"blue": 100, "green": 0}  # as the template writes them
    stack.shift_to_green()
    assert stack.weights() == {"blue": 0, "green": 100}
    return stack


def test_an_unrelated_change_set_touches_no_listener_or_rule_and_traffic_stays(local_aws, deployed, tmp_path):
    # A release's kind of change: the application's environment (an image tag would change the same resource).
    cdk(local_aws, tmp_path, "deploy", STACK, "--exclusively", "--method=prepare-change-set", "--change-set-name",
        "unrelated", "--require-approval", "never", *BLUE_GREEN, "-c", "echo_environment=RELEASE=2")
    changes = deployed.changes("unrelated")
    assert changes == [("Modify", changes[0][1], "AWS::ECS::TaskDefinition")]
    assert not [change for change in changes if change[2].startswith(LOAD_BALANCING)]
    deployed.cloudformation.execute_change_set(StackName=STACK, ChangeSetName="unrelated")
    assert deployed.weights() == {"blue": 0, "green": 100}  # ECS's, not the template's


def test_a_change_to_the_rule_itself_is_listed_and_writes_the_templates_weights_back(deployed):
    """The control: the check above can fail. An edit of the production rule (here its priority, as a code
    change would make it) is in the change set, and executing it sends traffic back to the emptied group."""
    deployed.shift_to_green()
    template = json.loads(json.dumps(deployed.cloudformation.get_template(StackName=STACK)["TemplateBody"]))
    (rule_id,) = [key for key in template["Resources"] if key.startswith("LoadBalancerProductionRule")]
    template["Resources"][rule_id]["Properties"]["Priority"] = 11
    deployed.cloudformation.create_change_set(
        StackName=STACK, ChangeSetName="rule-edit", ChangeSetType="UPDATE", TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    assert ("Modify", rule_id, f"{LOAD_BALANCING}ListenerRule") in deployed.changes("rule-edit")
    deployed.cloudformation.execute_change_set(StackName=STACK, ChangeSetName="rule-edit")
    assert deployed.weights() == {"blue": 100, "green": 0}  # the trap: production back on the empty group
