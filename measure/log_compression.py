"""How small log records get once gzipped at level 6: CloudWatch Logs archives what it stores so ("compressed using
gzip level 6 compression", CloudWatch pricing, with 26 bytes of metadata per event), and Elastic Load Balancing
writes its access log files gzipped. Measured per format on sample records, each copy given its own ids, times,
addresses and sizes, as real traffic would: this app's access lines (captured with `make run` on 2026-12-03), and
AWS's own examples of an ALB access log entry, a WAF log record and a VPC flow log record."""

from __future__ import annotations

import functools
import gzip
import random

ARCHIVE_METADATA_BYTES_PER_EVENT = 26
# {id} a request id, {time} a timestamp, {ip} a client address, {port} a port, {n} a small number, {path} a path,
# {agent} a user agent.
SAMPLES = {
    "app": (
        '{{"time":"2026-12-03T{time}.513Z","level":"info","msg":"request","method":"GET","path":"{path}",'
        '"status":200,"duration_ms":0.{n},"request_id":"{id}","client":"10.0.1.23","forwarded_for":"{ip}",'
        '"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) {agent}"}}\n'
        '{{"time":"2026-12-03T{time}+00:00","request_id":"{id}","remote_addr":"10.0.1.23","x_forwarded_for":"{ip}",'
        '"method":"GET","uri":"{path}","protocol":"HTTP/1.1","host":"echo.example.com","status":200,'
        '"body_bytes_sent":{n},"request_length":231,"request_time":0.005,"upstream_addr":"127.0.0.1:8080",'
        '"upstream_status":"200","upstream_response_time":"0.005","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; '
        'x64) AppleWebKit/537.36 (KHTML, like Gecko) {agent}","referer":"https://echo.example.com/"}}'),
    # Elastic Load Balancing User Guide, "Access log entries", example HTTPS entry (fields varied per request).
    "alb": (
        'https 2026-12-03T{time}.086513Z app/my-loadbalancer/50dc6c495c0c9188 {ip}:{port} 10.0.0.1:80 0.086 0.048 '
        '0.037 200 200 0 {n} "GET https://echo.example.com:443{path} HTTP/1.1" "Mozilla/5.0 {agent}" '
        'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/'
        'my-targets/73e2d6bc24d8a067 "Root=1-{id}" "echo.example.com" "arn:aws:acm:us-east-1:123456789012:'
        'certificate/12345678-1234-1234-1234-123456789012" 1 2026-12-03T{time}.000000Z "forward" "-" "-" '
        '"10.0.0.1:80" "200" "-" "-" TID_{id}'),
    # AWS WAF Developer Guide, "Log examples" (a smaller request, fields varied per request).
    "waf": (
        '{{"timestamp":1764768000{n},"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:123456789012:regional/'
        'webacl/echo/a1b2c3d4","terminatingRuleId":"Default_Action","terminatingRuleType":"REGULAR","action":"ALLOW",'
        '"terminatingRuleMatchDetails":[],"httpSourceName":"ALB","httpSourceId":"123456789012-app/echo/50dc6c495c0c9188",'
        '"ruleGroupList":[{{"ruleGroupId":"AWS#AWSManagedRulesCommonRuleSet","terminatingRule":null,'
        '"nonTerminatingMatchingRules":[],"excludedRules":null}},{{"ruleGroupId":"AWS#AWSManagedRulesKnownBadInputsRuleSet",'
        '"terminatingRule":null,"nonTerminatingMatchingRules":[],"excludedRules":null}}],"rateBasedRuleList":[],'
        '"nonTerminatingMatchingRules":[],"requestHeadersInserted":null,"responseCodeSent":null,"httpRequest":'
        '{{"clientIp":"{ip}","country":"US","headers":[{{"name":"Host","value":"echo.example.com"}},{{"name":'
        '"User-Agent","value":"Mozilla/5.0 {agent}"}},{{"name":"Accept","value":"text/html"}},{{"name":'
        '"authorization","value":"REDACTED"}}],"uri":"{path}","args":"","httpVersion":"HTTP/1.1","httpMethod":"GET",'
        '"requestId":"1-{id}"}},"labels":[]}}'),
    # Amazon VPC User Guide, "Flow log records", default format (fields varied per flow).
    "flow": '2 123456789010 eni-1235b8ca123456789 {ip} 10.0.1.23 {port} 443 6 {n} 4249 1764768{n} 1764768{n} ACCEPT OK',
}
_PATHS = ("/api/items", "/api/items/42", "/", "/static/app.js", "/api/orders?page=3", "/login")
_AGENTS = ("Chrome/131.0.0.0 Safari/537.36", "Firefox/133.0", "Version/18.1 Safari/605.1.15", "curl/8.5.0")


@functools.cache
def gzip_fraction(kind: str = "app", records: int = 5_000, seed: int = 15) -> float:
    """Compressed bytes per raw byte of `kind`'s records, varied per record (deterministic for one seed)."""
    rng = random.Random(seed)
    lines = []
    for number in range(records):
        lines.append(SAMPLES[kind].format(
            id=f"{rng.getrandbits(128):032x}", ip=f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
            time=f"{number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}",
            port=rng.randrange(1024, 65536), n=rng.randrange(1000), path=rng.choice(_PATHS),
            agent=rng.choice(_AGENTS)))
    raw = "\n".join(lines).encode()
    return len(gzip.compress(raw, compresslevel=6)) / len(raw)
