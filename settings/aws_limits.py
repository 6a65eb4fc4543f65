"""Values AWS itself accepts, checked before CloudFormation would reject them half-way through a deploy."""

# Fargate task sizes: CPU units -> memory sizes (MiB) allowed with them.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
FARGATE_MEMORY_BY_CPU: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# CloudWatch Logs retention periods (days). "Never expire" is left out on purpose: logs keep a retention.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

# Application Load Balancer target group limits.
HEALTH_CHECK_INTERVAL_RANGE = (5, 300)
HEALTH_CHECK_TIMEOUT_RANGE = (2, 120)
HEALTH_CHECK_THRESHOLD_RANGE = (2, 10)
DEREGISTRATION_DELAY_RANGE = (0, 3600)
HTTP_SUCCESS_CODE_RANGE = (200, 499)
HEALTH_CHECK_PATH_MAX_LENGTH = 1024

# Inbound rules per security group, AWS's default quota (VPC quotas: "Inbound or outbound rules per security group").
SECURITY_GROUP_INBOUND_RULES = 60


def describe_memory_choices(memory_mib: tuple[int, ...]) -> str:
    """Shortens a long run of sizes to 'first-last in steps of N' so error messages stay one line."""
    if len(memory_mib) <= 3:
        return ", ".join(str(m) for m in memory_mib)
    step = memory_mib[1] - memory_mib[0]
    return f"{memory_mib[0]}-{memory_mib[-1]} in steps of {step}"
