"""The one price table the cost report uses: us-east-1, list prices, no free tier, no discounts but Spot's.

Each figure names where it comes from. AWS renders most of its price tables by script, so several are read
from AWS's billing strings or from dated copies of its pages (../shared/notes/facts.md, "Prices"; the research
for issue 15). Check them against https://aws.amazon.com/pricing/ before a decision rests on them; change them
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

HOURS_PER_MONTH = 730
GB = 1024 ** 3  # AWS bills data in GB of 2^30 bytes


@dataclass(frozen=True)
class SpotRate:
    """Fargate Spot's price in one region for one architecture, as observed on one date. Spot prices float:
    AWS promises only 'up to 70 %' off."""

    region: str
    architecture: str  # "x86_64" or "arm64"
    vcpu_hour: float
    gb_hour: float
    as_of: str
    source: str

    def discount(self, on_demand_vcpu_hour: float) -> float:
        """The fraction off on-demand (the same on both axes in every snapshot read)."""
        return 1 - self.vcpu_hour / on_demand_vcpu_hour


_SPOT_SOURCE = ("AWS's Fargate Spot price feed behind aws.amazon.com/fargate/pricing "
                "(dftu77xade0tc.cloudfront.net/fargate-spot-prices.json), as a third-party snapshot recorded it "
                "on that date")


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
    # Fargate Spot per architecture in this region (ARM64 runs on Spot since 2024-09-06).
    fargate_spot: MappingProxyType = field(repr=False)

    alb_hour: float
    alb_lcu_hour: float
    nat_gateway_hour: float
    public_ipv4_hour: float
    interface_endpoint_az_hour: float

    waf_web_acl_month: float
    waf_rule_month: float
    cloudwatch_alarm_month: float  # standard resolution, per alarm (per metric for metric-math alarms)
    cloudwatch_dashboard_month: float
    kms_key_month: float  # a customer managed key, rotation included in its first year (AWS KMS pricing)

    # What traffic drives.
    waf_million_requests: float
    nat_gateway_gb: float
    data_transfer_out_gb: float  # to the internet, first 10 TB; AWS's 100 GB a month free not applied
    logs_gb_ingested: float  # CloudWatch Logs, Standard class, custom logs (the containers')
    vended_logs_gb_ingested: float  # VPC flow logs and WAF logs delivered to CloudWatch Logs, first 10 TB
    logs_gb_month_stored: float
    s3_gb_month: float  # S3 Standard, first 50 TB
    s3_thousand_puts: float
    custom_metric_month: float  # CloudWatch custom metrics, first 10,000 (Container Insights' are billed so)
    ecr_gb_month: float

    @property
    def source_line(self) -> str:
        return f"Prices: {self.region}, {self.source}, {self.as_of}; {HOURS_PER_MONTH} h a month; no free tier"

    def spot_rate(self, arm: bool) -> SpotRate:
        return self.fargate_spot["arm64" if arm else "x86_64"]


PRICES = Prices(
    region="us-east-1",
    as_of="2026 (Spot: 2026-09-28)",
    source="AWS price pages and billing strings, read through dated copies",
    fargate_x86_vcpu_hour=0.04048,
    fargate_x86_gb_hour=0.004445,
    fargate_arm_vcpu_hour=0.03238,
    fargate_arm_gb_hour=0.00356,
    fargate_spot=MappingProxyType({
        "x86_64": SpotRate("us-east-1", "x86_64", 0.01288871, 0.00141527, "2026-09-28", _SPOT_SOURCE),
        "arm64": SpotRate("us-east-1", "arm64", 0.01030969, 0.00113349, "2026-09-28", _SPOT_SOURCE),
    }),
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
    waf_million_requests=0.60,
    nat_gateway_gb=0.045,
    data_transfer_out_gb=0.09,
    logs_gb_ingested=0.50,
    vended_logs_gb_ingested=0.50,
    logs_gb_month_stored=0.03,
    s3_gb_month=0.023,
    s3_thousand_puts=0.005,
    custom_metric_month=0.30,
    ecr_gb_month=0.10,
)
