"""The one price table the cost report uses: us-east-1, on-demand list prices, no free tier, no discounts.

Every figure comes from ../shared/notes/facts.md ("Prices, us-east-1, per month of 730 h (secondary copies of
AWS price pages, 2026)"). Check them again against https://aws.amazon.com/pricing/ before a decision rests on
them; change them here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    source: str

    # Fargate, Linux, per hour. CPU per vCPU (1024 CPU units), memory per GB (1024 MiB).
    fargate_x86_vcpu_hour: float
    fargate_x86_gb_hour: float
    fargate_arm_vcpu_hour: float
    fargate_arm_gb_hour: float
    # Fargate Spot is "up to 70 % off" the on-demand price; the report assumes the full 70 %.
    fargate_spot_discount: float

    alb_hour: float
    alb_lcu_hour: float
    nat_gateway_hour: float
    public_ipv4_hour: float
    interface_endpoint_az_hour: float

    waf_web_acl_month: float
    waf_rule_month: float
    cloudwatch_alarm_month: float  # standard resolution, per alarm (per metric for metric-math alarms)
    cloudwatch_dashboard_month: float
    kms_key_month: float  # a customer managed key, rotation included (AWS KMS pricing); requests excluded

    # Usage-driven prices the report names but does not estimate (they depend on traffic).
    nat_gateway_gb: float
    logs_gb_ingested: float
    ecr_gb_month: float

    @property
    def source_line(self) -> str:
        return f"Prices: {self.region}, {self.source}, {self.as_of}; {HOURS_PER_MONTH} h a month; no free tier"


PRICES = Prices(
    region="us-east-1",
    as_of="2026",
    source="secondary copies of AWS price pages",
    fargate_x86_vcpu_hour=0.04048,
    fargate_x86_gb_hour=0.004445,
    fargate_arm_vcpu_hour=0.03238,
    fargate_arm_gb_hour=0.00356,
    fargate_spot_discount=0.70,
    alb_hour=0.0225,
    alb_lcu_hour=0.008,
    nat_gateway_hour=0.045,
    public_ipv4_hour=0.005,
    interface_endpoint_az_hour=0.01,
    waf_web_acl_month=5.0,
    waf_rule_month=1.0,
    cloudwatch_alarm_month=0.10,
    cloudwatch_dashboard_month=3.0,
    kms_key_month=1.0,
    nat_gateway_gb=0.045,
    logs_gb_ingested=0.50,
    ecr_gb_month=0.10,
)
