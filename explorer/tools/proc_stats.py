"""Memory and CPU of a server process and its children, for the load test (psutil: the same on every OS)."""

from __future__ import annotations

import psutil


class ProcessTree:
    """A process and whatever children it has at the moment of each reading."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def _members(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def count(self) -> int:
        """Processes in the tree now (a served app: serve.py, its workers and nginx's)."""
        return len(self._members())

    def rss_mb(self) -> float:
        """Resident memory now, summed over the tree, in MiB."""
        total = 0
        for proc in self._members():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, summed over the tree (children that were waited for included)."""
        total = 0.0
        for proc in self._members():
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total
