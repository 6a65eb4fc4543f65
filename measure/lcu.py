"""Load balancer capacity units: what an Application Load Balancer bills per hour beside its own hour.

AWS measures four dimensions, averaged over each hour, and bills the largest (Elastic Load Balancing pricing):
"An LCU contains: 25 new connections per second. 3,000 active connections per minute. 1 GB per hour for ...
containers, and IP addresses as targets, and 0.4 GB per hour for Lambda functions as targets. 1,000 rule
evaluations per second", where "Rule evaluations = Request rate * (Number of rules processed - 10 free rules)".
"""

from __future__ import annotations

from dataclasses import dataclass

from measure.prices import GB
from measure.usage import Usage

NEW_CONNECTIONS_PER_LCU = 25  # per second
ACTIVE_CONNECTIONS_PER_LCU = 3_000  # per minute
GB_PER_HOUR_PER_LCU = 1.0  # instances, containers and IP addresses as targets
LAMBDA_GB_PER_HOUR_PER_LCU = 0.4
RULE_EVALUATIONS_PER_LCU = 1_000  # per second
FREE_RULES = 10


@dataclass(frozen=True)
class LcuDimensions:
    """LCUs of each dimension for one load balancer; it bills the largest."""

    new_connections: float
    active_connections: float
    processed_bytes: float
    rule_evaluations: float

    def as_dict(self) -> dict[str, float]:
        return {"new connections": self.new_connections, "active connections": self.active_connections,
                "processed bytes": self.processed_bytes, "rule evaluations": self.rule_evaluations}

    @property
    def billed(self) -> float:
        return max(self.as_dict().values())

    @property
    def largest(self) -> str:
        """The dimension billed (the first of equals, in AWS's order)."""
        dimensions = self.as_dict()
        return max(dimensions, key=lambda name: dimensions[name])


def rule_evaluations_per_second(usage: Usage, rules_processed: int) -> float:
    if usage.rule_evaluations_per_second is not None:
        return usage.rule_evaluations_per_second
    return usage.requests_per_second * max(0, rules_processed - FREE_RULES)


def lcu_dimensions(usage: Usage, *, rules_processed: int, lambda_targets: bool = False) -> LcuDimensions:
    gb_per_hour = usage.requests_per_second * (usage.request_bytes + usage.response_bytes) * 3600 / GB
    return LcuDimensions(
        new_connections=usage.new_connections_per_second / NEW_CONNECTIONS_PER_LCU,
        active_connections=usage.active_connections / ACTIVE_CONNECTIONS_PER_LCU,
        processed_bytes=gb_per_hour / (LAMBDA_GB_PER_HOUR_PER_LCU if lambda_targets else GB_PER_HOUR_PER_LCU),
        rule_evaluations=rule_evaluations_per_second(usage, rules_processed) / RULE_EVALUATIONS_PER_LCU,
    )
