"""Peak memory of a process tree: each process's own peak RSS and the tree's total.

A stage may run as one process (the faces stage's workers are threads) or as a driver
with worker processes (an executor's); which one it is must not change what the bench
reports. `TreeSampler` polls the tree with psutil every ``interval`` seconds and keeps,
per process, its RSS high-water mark (Linux ``VmHWM`` from ``/proc/<pid>/status``: exact
up to the last poll before the process exits; elsewhere the largest RSS polled) and,
for the tree, the largest sum of the RSS of its live processes at one poll (a lower
bound of the true peak: a spike shorter than the interval can be missed). RSS counts
shared pages (the libraries every worker maps) in each process, so the total over-counts
them; it is what the machine must hold if nothing is shared, the safe figure to size
a machine by.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 2**20


def vm_hwm_bytes(pid: int) -> int | None:
    """The process's RSS high-water mark (``VmHWM``), or None where /proc has no such line."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class _Seen:
    pid: int
    name: str
    parent: int | None
    peak_rss: int = 0
    hwm: int = 0


@dataclass
class TreeSampler:
    """Polls the tree under ``root_pid`` on a thread (`start` / `stop`).

    ``skip_root`` leaves the root out of every figure: the bench starts the stage from a
    small launcher process (see ``tools.bench.faces.run_with_peak_rss``) that is not the
    stage's.
    """

    root_pid: int
    interval: float = 0.02
    skip_root: bool = False
    _seen: dict[int, _Seen] = field(default_factory=dict)
    _total_peak: int = 0
    _polls: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """One look at the tree: every live process's RSS and high-water mark, and their sum."""
        try:
            root = psutil.Process(self.root_pid)
            procs = ([] if self.skip_root else [root]) + root.children(recursive=True)
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                rss = proc.memory_info().rss
                seen = self._seen.get(proc.pid)
                if seen is None:
                    parent = proc.ppid()
                    seen = self._seen[proc.pid] = _Seen(proc.pid, _describe(proc), parent)
            except psutil.Error:
                continue  # exited between the listing and the read
            total += rss
            seen.peak_rss = max(seen.peak_rss, rss)
            seen.hwm = max(seen.hwm, vm_hwm_bytes(proc.pid) or 0)
        self._total_peak = max(self._total_peak, total)
        self._polls += 1

    def report(self, driver_pid: int | None = None) -> dict[str, Any]:
        """Per process (driver first, then the others by pid) its peak RSS in MB, and the
        tree's total. ``driver_pid``: the stage's own process (default: the root, or the
        root's child when the root is skipped)."""
        procs = sorted(self._seen.values(), key=lambda s: s.pid)
        if driver_pid is None and procs:
            if not self.skip_root:
                driver_pid = self.root_pid
            else:  # the root's child (pids may wrap, so not the smallest pid)
                driver_pid = next((s.pid for s in procs if s.parent == self.root_pid), procs[0].pid)

        def one(s: _Seen) -> dict[str, Any]:
            return {
                "pid": s.pid,
                "name": s.name,
                "peak_rss_mb": round(max(s.hwm, s.peak_rss) / MB, 1),
                "sampled_peak_rss_mb": round(s.peak_rss / MB, 1),
            }

        driver = [one(s) for s in procs if s.pid == driver_pid]
        others = [one(s) for s in procs if s.pid != driver_pid]
        return {
            "driver": driver[0] if driver else None,
            "children": others,
            "processes": len(procs),
            "total_peak_rss_mb": round(self._total_peak / MB, 1),
            "sum_of_peaks_mb": round(sum(max(s.hwm, s.peak_rss) for s in procs) / MB, 1),
            "interval_s": self.interval,
            "polls": self._polls,
        }


def _describe(proc: psutil.Process) -> str:
    """A short name: the executable's name and, for Python, the module or script it runs."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        cmd = []
    name = proc.name()
    if name.startswith("python"):  # python3.11, python3, python: one name whichever link started it
        name = "python"
    for i, arg in enumerate(cmd[1:], 1):
        if arg == "-m" and i + 1 < len(cmd):
            return f"{name} -m {cmd[i + 1]}"
        if arg.endswith(".py"):
            return f"{name} {Path(arg).name}"
    return name
