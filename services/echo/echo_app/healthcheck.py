"""``python -m echo_app.healthcheck``: exit 0 if ``GET /healthz`` answers 200, else 1.

For the ECS container health check, since the image has no curl. Standard library
only, proxies ignored, and the whole check is bounded by ``TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.request

from echo_app.settings import ConfigError, parse_port

# The socket timeout; the reply is tiny and local, so the whole check stays under 2 s.
TIMEOUT_SECONDS = 1.5


def check(port: int, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """GET http://127.0.0.1:<port>/healthz; (healthy, reason)."""
    url = f"http://127.0.0.1:{port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"User-Agent": "echo-healthcheck"})
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read(64)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # refused, timed out, reset, a non-2xx (HTTPError) or a garbled reply
        return False, f"{url}: {type(exc).__name__}: {exc}"
    if status != 200:
        return False, f"{url}: HTTP {status}"
    return True, f"{url}: HTTP 200"


def main() -> int:
    try:
        port = parse_port(os.environ.get("PORT"))
    except ConfigError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    healthy, reason = check(port)
    print(
        f"healthcheck: {'healthy' if healthy else 'unhealthy'}: {reason}",
        file=sys.stderr,
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
