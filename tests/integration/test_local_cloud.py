"""What `make local` leaves running is recorded by pid, and `make local-stop` stops exactly that."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tools import local_cloud
from tools.local_task import free_port

pytestmark = pytest.mark.integration



def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_records_pids_and_stop_ends_exactly_those(built_images, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_cloud, "RUN_DIR", tmp_path / ".run")
    aws_port, task_port = free_port(), free_port()
    local_cloud.start_aws(aws_port)
    local_cloud.start_aws(aws_port)  # a second `make local` reuses the running one
    local_cloud.start_task(built_images.outdir / "echo-fargate-dev.template.json", task_port, free_port())
    out = capsys.readouterr().out
    assert "local AWS (moto) started" in out and "local AWS already running" in out
    pids = {name: local_cloud.running_pid(name) for name in local_cloud.SERVICES}
    assert all(pids.values()) and all(_alive(pid) for pid in pids.values())
    nginx_pid = int((tmp_path / ".run" / "nginx" / "nginx.pid").read_text())

    assert local_cloud.main(["stop"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"stopped local-task (pid {pids['local-task']})",
                                f"stopped local-aws (pid {pids['local-aws']})"]
    assert not any(_alive(pid) for pid in pids.values())
    assert not _alive(nginx_pid)
    for port in (aws_port, task_port):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    assert local_cloud.main(["stop"]) == 0
    assert capsys.readouterr().out == "nothing from make local is running\n"


def test_a_stale_or_foreign_pid_file_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(local_cloud, "RUN_DIR", tmp_path)
    stranger = subprocess.Popen(["sleep", "30"])  # alive, but not what make local started
    try:
        (tmp_path / "local-aws.pid").write_text(str(stranger.pid))
        assert local_cloud.running_pid("local-aws") is None
        assert _alive(stranger.pid)  # and `make local-stop` would leave it alone
        (tmp_path / "local-task.pid").write_text("not a pid")
        assert local_cloud.running_pid("local-task") is None
        assert not list(tmp_path.glob("*.pid"))
    finally:
        stranger.kill()
        stranger.wait()
