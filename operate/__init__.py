"""Operating a deployed stack: the checks and commands a team runs the day after cdk deploy."""
