"""The resident memory of a process and its descendants, sampled in the background: what a container's memory
limit must hold (`make bench` prints each container's peak beside its limit in the task definition)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.2
PROC = Path("/proc")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Linux /proc/PID/task/TID/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for children in (PROC / str(current) / "task").glob("*/children"):
            try:
                queue.extend(int(child) for child in children.read_text().split())
            except OSError:  # the thread or process has just exited
                continue
    return found


def resident_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0  # exited, or a kernel thread without memory of its own


def tree_resident_kib(pid: int) -> int:
    return sum(resident_kib(each) for each in descendants(pid))


class PeakMemory:
    """Samples each named process tree every SAMPLE_SECONDS until stop(); keeps the highest sum seen."""

    def __init__(self, roots: dict[str, int], interval: float = SAMPLE_SECONDS) -> None:
        self._roots = roots
        self._peaks = {name: 0 for name in roots}
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._done.wait(self._interval):
                return

    def sample(self) -> None:
        for name, pid in self._roots.items():
            self._peaks[name] = max(self._peaks[name], tree_resident_kib(pid))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def peaks_mib(self) -> dict[str, float]:
        return {name: kib / 1024 for name, kib in self._peaks.items()}


def container_memory_limits(template: Path) -> dict[str, int]:
    """Container name -> its hard memory limit (MiB) in the synthesized task definition, where one is set."""
    resources = json.loads(template.read_text())["Resources"].values()
    (task,) = [r for r in resources if r["Type"] == "AWS::ECS::TaskDefinition"]
    return {c["Name"]: c["Memory"] for c in task["Properties"]["ContainerDefinitions"] if "Memory" in c}
