"""Acknowledging a cdk-nag finding: always on the narrowest construct, always with the reason in code."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept an AwsSolutions finding (e.g. rule='EC23') on `scope` and what it contains, nothing wider."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason))
