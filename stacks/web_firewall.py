"""AWS WAF in front of the load balancer: a per-address rate limit and AWS managed rule groups, each counted in
its own metric, and every request it inspects logged to CloudWatch Logs."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.log_groups import StackLogs, waf_log_group_name

# Common web exploits, known-bad inputs (e.g. Log4Shell probes), and addresses on Amazon's reputation lists.
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                       "AWSManagedRulesAmazonIpReputationList")


# Requests per client address counted over this window (seconds) for the rate limit.
RATE_WINDOW_SECONDS = 300
# Headers WAF's log would otherwise hold in clear: the basic-auth login (basic_auth_secret) and session cookies.
REDACTED_HEADERS = ("authorization", "cookie")


class WebFirewall(Construct):
    """First a per-address rate limit (a single client flooding the service is blocked until it slows down),
    then the managed rule groups."""

    def __init__(self, scope: Construct, construct_id: str, *,
                 load_balancer: elbv2.ApplicationLoadBalancer, rate_limit: int, stack_logs: StackLogs) -> None:
        super().__init__(scope, construct_id)
        rate_rule = wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerAddress", priority=0,
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=RATE_WINDOW_SECONDS)),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            visibility_config=_visibility("RateLimitPerAddress"),
        )
        self.web_acl = wafv2.CfnWebACL(
            self, "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("echo-web-acl"),
            rules=[rate_rule] + [
                wafv2.CfnWebACL.RuleProperty(
                    name=group, priority=priority,
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group)),
                    # The groups decide block or allow themselves; "none" keeps their own actions.
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    visibility_config=_visibility(group),
                )
                for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
            ],
        )
        wafv2.CfnWebACLAssociation(self, "Association", resource_arn=load_balancer.load_balancer_arn,
                                   web_acl_arn=self.web_acl.attr_arn)
        # WAF logs only to a log group named aws-waf-logs-...; AWS adds the group's resource policy for its log
        # delivery when the logging configuration is created (CloudWatch Logs User Guide, "Enable logging from
        # AWS services").
        self.log_group = stack_logs.group(self, "Logs", name=waf_log_group_name(Stack.of(self)))
        self.logging = wafv2.CfnLoggingConfiguration(
            self, "Logging", resource_arn=self.web_acl.attr_arn,
            # The log group's ARN without CDK's trailing ":*", as WAF wants it.
            log_destination_configs=[Stack.of(self).format_arn(
                service="logs", resource="log-group", resource_name=self.log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME)],
            redacted_fields=[wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                             for header in REDACTED_HEADERS],
        )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(cloud_watch_metrics_enabled=True, metric_name=metric_name,
                                                    sampled_requests_enabled=True)
