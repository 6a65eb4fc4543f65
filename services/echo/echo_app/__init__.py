"""A tiny HTTP service compatible with ``stormcat24/echo``.

Every request answers ``200 Hello Docker!!``; ``GET /healthz`` answers ``200 ok``.
Run it with ``python -m echo_app`` (see README.md).

This package's ``__init__`` stays import-free so that ``python -m echo_app.healthcheck``
starts quickly and needs only the standard library.
"""

__all__ = ["__version__"]

__version__ = "1.0.0"
