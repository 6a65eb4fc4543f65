"""How small log lines get once gzipped at level 6: CloudWatch Logs archives what it stores so ("compressed using
gzip level 6 compression", CloudWatch pricing, with 26 bytes of metadata per event), and Elastic Load Balancing
writes its access log files gzipped. Measured on this app's own access lines (captured with `make run` on
2026-12-03), each copy given its own request id, time, duration, client and path, as real traffic would."""

from __future__ import annotations

import functools
import gzip
import random

ARCHIVE_METADATA_BYTES_PER_EVENT = 26
SAMPLE_LINES = (
    '{"time":"2026-12-03T13:37:46.513Z","level":"info","msg":"request","method":"GET","path":"/api/items",'
    '"status":200,"duration_ms":0.087,"request_id":"dd596ad71bf5ed311dbd27b117226594","client":"10.0.1.23",'
    '"forwarded_for":"203.0.113.7","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
    '(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}',
    '{"time":"2026-12-03T13:37:46+00:00","request_id":"dd596ad71bf5ed311dbd27b117226594","remote_addr":"10.0.1.23",'
    '"x_forwarded_for":"203.0.113.7","method":"GET","uri":"/api/items","protocol":"HTTP/1.1","host":'
    '"echo.example.com","status":200,"body_bytes_sent":14,"request_length":231,"request_time":0.005,'
    '"upstream_addr":"127.0.0.1:8080","upstream_status":"200","upstream_response_time":"0.005","user_agent":'
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 '
    'Safari/537.36","referer":"https://echo.example.com/"}',
)
_PATHS = ("/api/items", "/api/items/42", "/", "/static/app.js", "/api/orders?page=3", "/login")
_AGENTS = ("Chrome/131.0.0.0 Safari/537.36", "Firefox/133.0", "Version/18.1 Safari/605.1.15", "curl/8.5.0")


@functools.cache
def gzip_fraction(requests: int = 5_000, seed: int = 15) -> float:
    """Compressed bytes per raw byte of the sample lines, varied per request (deterministic for one seed)."""
    rng = random.Random(seed)
    lines = []
    for number in range(requests):
        request_id = f"{rng.getrandbits(128):032x}"
        second = f"{number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}"
        client = f"198.51.{rng.randrange(256)}.{rng.randrange(256)}"
        path, agent = rng.choice(_PATHS), rng.choice(_AGENTS)
        for line in SAMPLE_LINES:
            lines.append(line.replace("dd596ad71bf5ed311dbd27b117226594", request_id).replace("13:37:46", second)
                         .replace("203.0.113.7", client).replace("/api/items", path)
                         .replace("Chrome/131.0.0.0 Safari/537.36", agent)
                         .replace("0.087", f"{rng.random():.3f}").replace("0.005", f"{rng.random() / 10:.3f}"))
    raw = "\n".join(lines).encode()
    return len(gzip.compress(raw, compresslevel=6)) / len(raw)
