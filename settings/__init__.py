"""Validated settings: the only place configuration enters the app.

`app.py` hands the CDK context to `load_settings`; everything below it receives a `Settings` object or
plain keyword arguments and never reads the context or the environment itself.
"""

from settings.errors import SettingsError
from settings.loader import load_settings
from settings.model import Settings

__all__ = ["Settings", "SettingsError", "load_settings"]
