"""The service's alarms, the encrypted topic they notify, and a dashboard of the same signals.

`deployment_alarms` are the alarms that mean "this release is bad" (target 5xx, unhealthy targets, p99 latency);
the caller hands them to the ECS service as deployment alarms, so a release that trips one is rolled back.
CPU and memory mean "too much load" and are left out: rolling back would not help.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# ALB and ECS service metrics are published every minute; alarms look at one-minute datapoints.
PERIOD = Duration.minutes(1)
# 5xx responses in a minute. A lone error (a client hanging up, one task restarting) is noise; five a minute
# is a pattern. Two of three minutes: a single bad minute does not page, errors that come and go still do.
ERRORS_PER_MINUTE = 5
ERROR_PERIODS, ERROR_DATAPOINTS = 3, 2
# Targets failing the health check. The target group marks one unhealthy within ~20 s (10 s x 2 checks);
# two whole minutes of it is a task that will not recover, not one that is restarting.
UNHEALTHY_PERIODS = 2
# p99 above the limit for three minutes in a row: percentiles of a quiet minute are noisy.
LATENCY_PERIODS = 3
# Sustained saturation: 85 % leaves headroom for a burst, and Fargate stops a task at 100 % memory.
# Five minutes: a burst is normal, five minutes of it means the service needs more or bigger tasks.
UTILIZATION_PERCENT = 85
UTILIZATION_PERIODS = 5
SERVICE_PRINCIPAL = "cloudwatch.amazonaws.com"


class ServiceMonitoring(Construct):
    """Six alarms on one Fargate service behind one ALB target group, each notifying `topic` on ALARM and OK."""

    def __init__(self, scope: Construct, construct_id: str, *, service: ecs.FargateService,
                 load_balancer: elbv2.ApplicationLoadBalancer, target_group: elbv2.ApplicationTargetGroup,
                 alarm_email: str | None, p99_latency_seconds: float = 1.0,
                 alternate_target_group: elbv2.ApplicationTargetGroup | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._topic()
        if alarm_email:
            # SNS mails a confirmation link first; nothing is delivered until someone clicks it.
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        errors_from_load_balancer = load_balancer.metrics.http_code_elb(
            elbv2.HttpCodeElb.ELB_5XX_COUNT, period=PERIOD, statistic="Sum")
        # Blue/green: the new release's tasks sit in whichever group is not serving, and the groups swap roles
        # with every deployment, so the release alarms read both.
        groups = [target_group] + ([alternate_target_group] if alternate_target_group else [])
        errors_from_targets = _across(groups, "FILL(m{i}, 0)", " + ", lambda g: g.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD, statistic="Sum"), "target 5xx")
        unhealthy = _across(groups, "FILL(m{i}, 0)", ", ", lambda g: g.metrics.unhealthy_host_count(
            period=PERIOD, statistic="Maximum"), "unhealthy hosts", wrap="MAX([{}])")
        p99 = _across(groups, "m{i}", ", ", lambda g: g.metrics.target_response_time(
            period=PERIOD, statistic="p99"), "p99", wrap="MAX([{}])")
        cpu = service.metric_cpu_utilization(period=PERIOD, statistic="Average")
        memory = service.metric_memory_utilization(period=PERIOD, statistic="Average")

        # The ALB publishes no 5xx or latency datapoint for a minute without any: missing is "none", not "broken".
        no_data_is_fine = cloudwatch.TreatMissingData.NOT_BREACHING
        self.alarms: dict[str, cloudwatch.Alarm] = {
            "load_balancer_5xx": self._alarm(
                "LoadBalancer5xx", errors_from_load_balancer, threshold=ERRORS_PER_MINUTE,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=ERROR_PERIODS, datapoints=ERROR_DATAPOINTS, missing=no_data_is_fine,
                description=f"The load balancer itself answered 5xx ({ERRORS_PER_MINUTE}+ a minute): 502/504 are "
                "tasks closing connections or timing out, 503 is no healthy target. Check the unhealthy-hosts "
                "alarm, the target group's health, and the nginx logs.",
            ),
            "target_5xx": self._alarm(
                "Target5xx", errors_from_targets, threshold=ERRORS_PER_MINUTE,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=ERROR_PERIODS, datapoints=ERROR_DATAPOINTS, missing=no_data_is_fine,
                description=f"The tasks answered 5xx ({ERRORS_PER_MINUTE}+ a minute). Check the service's "
                "container logs (nginx, then the app behind it) and whether a deployment just started: this "
                "alarm rolls a deployment back.",
            ),
            "unhealthy_hosts": self._alarm(
                "UnhealthyHosts", unhealthy, threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                periods=UNHEALTHY_PERIODS, datapoints=UNHEALTHY_PERIODS,
                # Published every minute while the group is attached; a gap is not evidence of a bad target.
                missing=no_data_is_fine,
                description="At least one target has failed the load balancer's health check for "
                f"{UNHEALTHY_PERIODS} minutes. Check the target group's health reasons, the ECS service's "
                "events and stopped tasks. This alarm rolls a deployment back.",
            ),
            "p99_latency": self._alarm(
                "P99Latency", p99, threshold=p99_latency_seconds,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=LATENCY_PERIODS, datapoints=LATENCY_PERIODS, missing=no_data_is_fine,
                # p99 of fewer than 100 requests is the single slowest one: keep the state until there is enough.
                # (A percentile setting: it does not apply to the math across two groups.)
                low_sample=None if alternate_target_group else "ignore",
                description=f"The slowest 1 % of requests took over {p99_latency_seconds:g} s for "
                f"{LATENCY_PERIODS} minutes. Compare with CPU and memory on the dashboard (load) and with the "
                "last deployment (a slow release). This alarm rolls a deployment back.",
            ),
            "cpu": self._alarm(
                "Cpu", cpu, threshold=UTILIZATION_PERCENT,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=UTILIZATION_PERIODS, datapoints=UTILIZATION_PERIODS,
                # No datapoint means no running task: not a load signal. INSUFFICIENT_DATA says so, where a
                # made-up OK would not; the 5xx and health alarms are the ones that page for an outage.
                missing=cloudwatch.TreatMissingData.MISSING,
                description=f"The service's tasks averaged over {UTILIZATION_PERCENT} % CPU for "
                f"{UTILIZATION_PERIODS} minutes. Check request count and latency on the dashboard; the fix is "
                "more tasks or more CPU per task, not a rollback.",
            ),
            "memory": self._alarm(
                "Memory", memory, threshold=UTILIZATION_PERCENT,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=UTILIZATION_PERIODS, datapoints=UTILIZATION_PERIODS,
                missing=cloudwatch.TreatMissingData.MISSING,
                description=f"The service's tasks averaged over {UTILIZATION_PERCENT} % memory for "
                f"{UTILIZATION_PERIODS} minutes; at 100 % Fargate stops the task. Check for stopped tasks "
                "(OutOfMemory) and a growing trend (a leak) versus request count (load).",
            ),
        }
        # None of these three reads the service (only the load balancer and target group), so the service can
        # name them as its deployment alarms without a dependency cycle; the CPU and memory alarms could not.
        self.deployment_alarms: list[cloudwatch.Alarm] = [
            self.alarms[name] for name in ("target_5xx", "unhealthy_hosts", "p99_latency")
        ]

        # No dashboard_name: CloudFormation generates one, unique per stack, as with every other resource here.
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", widgets=[
            [
                cloudwatch.GraphWidget(
                    title="Requests and 5xx", width=12,
                    left=[load_balancer.metrics.request_count(period=PERIOD, label="Requests")],
                    right=[errors_from_load_balancer.with_(label="Load balancer 5xx"),
                           errors_from_targets.with_(label="Target 5xx")],
                ),
                cloudwatch.GraphWidget(
                    title="Response time", width=12,
                    left=[target_group.metrics.target_response_time(period=PERIOD, statistic="p50", label="p50"),
                          p99.with_(label="p99")],
                    left_annotations=[cloudwatch.HorizontalAnnotation(value=p99_latency_seconds, label="p99 alarm")],
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Targets", width=12,
                    left=[target_group.metrics.healthy_host_count(period=PERIOD, statistic="Minimum",
                                                                  label="Healthy"),
                          unhealthy.with_(label="Unhealthy")],
                ),
                cloudwatch.GraphWidget(
                    title="CPU and memory", width=12,
                    left=[cpu.with_(label="CPU %"), memory.with_(label="Memory %")],
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                    left_annotations=[cloudwatch.HorizontalAnnotation(value=UTILIZATION_PERCENT, label="Alarm")],
                ),
            ],
            [cloudwatch.AlarmStatusWidget(title="Alarms", width=24, alarms=list(self.alarms.values()))],
        ])

    def deployment_alarm_config(self) -> ecs.DeploymentAlarmConfig:
        """For the service's `deployment_alarms` (or `enable_deployment_alarms`): roll back when one goes off.

        By name, as ECS wants them; the names are CloudFormation's generated ones, resolved at deploy time.
        """
        return ecs.DeploymentAlarmConfig(
            alarm_names=[alarm.alarm_name for alarm in self.deployment_alarms],
            behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
        )

    def _topic(self) -> sns.Topic:
        # A customer managed key, not alias/aws/sns: the AWS managed key's policy cannot be changed, and it
        # does not let CloudWatch encrypt, so alarms could not publish to a topic encrypted with it.
        key = kms.Key(
            self, "TopicKey", enable_key_rotation=True,
            description="Encrypts the service's alarm notifications at rest in SNS",
            # It only ever protects notifications in flight through the topic, which goes with the stack. A
            # deletion waits AWS's longest window, 30 days: a key deleted by mistake can be recovered until then.
            removal_policy=RemovalPolicy.DESTROY, pending_window=Duration.days(30),
        )
        stack = Stack.of(self)
        # This account's alarms only (confused deputy): CloudWatch names the alarm and its account in the request.
        from_own_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"},
        }
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal(SERVICE_PRINCIPAL)],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions=from_own_alarms,
        ))
        # enforce_ssl adds a topic policy, and a topic policy replaces SNS's default one: publishing by
        # CloudWatch must then be allowed in it, limited to this account's alarms.
        topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal(SERVICE_PRINCIPAL)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=from_own_alarms,
        ))
        return topic

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float,
               comparison: cloudwatch.ComparisonOperator, periods: int, datapoints: int,
               missing: cloudwatch.TreatMissingData, description: str,
               low_sample: str | None = None) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, construct_id, metric=metric, threshold=threshold, comparison_operator=comparison,
            evaluation_periods=periods, datapoints_to_alarm=datapoints, treat_missing_data=missing,
            alarm_description=description, evaluate_low_sample_count_percentile=low_sample,
        )
        # OK too: whoever was told about the problem is told when it is over.
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm


def _across(groups: list, term: str, join: str, metric_of, label: str, wrap: str = "{}") -> cloudwatch.IMetric:
    """The metric of one target group as it is, or one math expression over several."""
    if len(groups) == 1:
        return metric_of(groups[0])
    expression = wrap.format(join.join(term.format(i=i) for i in range(len(groups))))
    return cloudwatch.MathExpression(expression=expression, label=label, period=PERIOD,
                                     using_metrics={f"m{i}": metric_of(group) for i, group in enumerate(groups)})
