"""Maintenance of generated files: the settings table and the list of CDK feature flags."""
