"""Thousands of concurrent clients through the task as `make run` starts it (local.task.LocalTask).

echo and nginx get the environment of the synthesized dev task definition (image_source=build, as `make run`
synthesizes it); only the ports are free loopback ports. wrk holds 2,000 keep-alive connections for 10 s:
none may be refused, reset or time out, and every answer must be 2xx. Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local.task import LocalTask, container_environments, free_port
from measure.bench_data_path import CONCURRENCY_TIMEOUT, run_wrk

pytestmark = pytest.mark.integration

CONNECTIONS = 2000
DURATION = 10


def test_2000_keepalive_clients_through_nginx_see_no_errors(built_images, tmp_path) -> None:
    assert shutil.which("wrk"), "wrk is missing: apt-get install wrk"
    template = built_images.outdir / f"{built_images.service_stack}.template.json"
    task = LocalTask(container_environments(template), listen_port=free_port(), runtime_dir=tmp_path / "nginx",
                     echo_port=free_port())
    stderr = tmp_path / "task.stderr"
    with stderr.open("w") as log:
        task.start(stdout=subprocess.DEVNULL, stderr=log)
        try:
            result = run_wrk("through nginx", f"{task.url}/", duration=DURATION, connections=CONNECTIONS,
                             threads=1, timeout=CONCURRENCY_TIMEOUT)
        finally:
            task.stop()
    summary = (f"{result.requests} requests, {result.requests_per_second:.0f}/s, p50 {result.p50_ms:.0f} ms, "
               f"p99 {result.p99_ms:.0f} ms; {result.error_detail()}")
    print(summary)
    assert result.requests > CONNECTIONS, summary
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}, summary
    assert result.non_2xx == 0, summary
    # nginx warns when it runs out of connections or files; echo logs a failed accept.
    problems = [line for line in stderr.read_text().splitlines()
                if "worker_connections are not enough" in line or "Too many open files" in line]
    assert not problems, problems[:5]
