"""The app's stacks and the constructs they compose, one AWS concern per module."""
