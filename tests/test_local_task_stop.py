"""A container process that will not stop is killed with everything it started, as ECS's SIGKILL would."""

from __future__ import annotations

import os
import subprocess
import time

from local import task as local_task


def test_a_process_that_ignores_the_stop_signal_is_killed_with_its_children(monkeypatch):
    monkeypatch.setattr(local_task, "STOP_TIMEOUT", 0.5)
    # Like nginx's entrypoint supervising nginx: a shell that ignores the stop signal, and a child of its own.
    parent = subprocess.Popen(["sh", "-c", 'trap "" QUIT TERM; sleep 300 & echo $!; wait'], stdout=subprocess.PIPE,
                              text=True)
    child = int(parent.stdout.readline())
    try:
        local_task._stop(parent, local_task.signal.SIGQUIT)
        assert parent.poll() is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its parent"
    finally:
        for pid in (parent.pid, child):
            if _alive(pid):
                os.kill(pid, 9)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
