"""``python -m echo_app``: validate the environment, then serve with uvicorn.

Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT), 2 for an invalid setting
(one line on stderr, no traceback), 3 when uvicorn cannot start (e.g. port in use).
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from types import FrameType

from echo_app.settings import ConfigError, Settings

EXIT_BAD_CONFIG = 2

# uvicorn's own messages (startup, shutdown, errors) go to stderr as plain lines;
# stdout carries only the JSON access lines written by the app.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        # No uvicorn access log: the app writes exactly one JSON line per request.
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the soft limit now in force.

    Every connection is a file descriptor, and nginx may open one per client it
    proxies (thousands under load). Many systems start processes with a soft limit
    of 1024 and a much higher hard limit that any process may raise its own soft
    limit to, as nginx does with worker_rlimit_nofile. In the task definition the
    container's nofile ulimit sets both.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft limit of open files: leave it.
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a sandbox that refuses: serve with what there is
            pass
    return soft


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"echo_app: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    raise_open_files_limit()

    import uvicorn  # imported after validation so a bad setting fails fast

    from echo_app.app import create_app

    config = uvicorn.Config(
        create_app(max_delay_ms=settings.max_delay_ms),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        workers=1,
        # Connections the kernel queues before uvicorn accepts them: nginx may open
        # thousands at once under load (the kernel caps it at net.core.somaxconn).
        backlog=4096,
        access_log=False,
        log_config=LOG_CONFIG,
        log_level="info",
        proxy_headers=False,  # the app logs X-Forwarded-For itself; no per-request middleware
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)

    # uvicorn installs its own SIGTERM/SIGINT handlers while serving and, once the
    # graceful shutdown is over, re-raises the signal against the handler that was
    # there before. Installing this one first means (a) a signal that arrives while
    # uvicorn is still starting also triggers a graceful exit, and (b) the re-raised
    # signal does not kill the process, so a graceful stop exits 0 instead of 143.
    def request_exit(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_exit)

    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
