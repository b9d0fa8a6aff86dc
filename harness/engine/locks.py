"""Per-unit locks of a sweep: two sweeps (or two Slurm jobs) never run the same unit at once, and a job that
died does not hold its unit forever.

A lock is a file created with O_EXCL holding host, pid and start time; its owner refreshes its mtime (a
heartbeat thread). It is stale — and taken over — when its pid is dead on this host, or when its heartbeat is
older than ``timeout_s`` (an owner on another node that was killed or preempted).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

#: a lock whose heartbeat is older than this is stale (the owner refreshes it every HEARTBEAT_S)
TIMEOUT_S = 300.0
HEARTBEAT_S = 30.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_lock(path: Path) -> dict | None:
    """The owner written in the lock file, or None when there is no lock (or it is unreadable half-written)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def is_stale(path: Path, timeout_s: float = TIMEOUT_S) -> bool:
    """True when the lock's owner is gone: a dead pid on this host, or no heartbeat for ``timeout_s``."""
    try:
        age = time.time() - Path(path).stat().st_mtime
    except FileNotFoundError:
        return True
    owner = read_lock(path)
    if owner is None:
        return age > 5.0  # an owner is writing it right now, unless it died doing so
    if owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1))):
        return True
    return age > timeout_s


class UnitLock:
    """``with UnitLock(path) as held:`` — ``held`` is False when a live owner already runs the unit."""

    def __init__(self, path: Path, timeout_s: float = TIMEOUT_S, heartbeat_s: float = HEARTBEAT_S):
        self.path, self.timeout_s, self.heartbeat_s = Path(path), timeout_s, heartbeat_s
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # a second try after removing a stale lock
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not is_stale(self.path, self.timeout_s):
                    return False
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(dict(host=socket.gethostname(), pid=os.getpid(), started_utc=time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), job=os.environ.get("SLURM_JOB_ID")), stream)
            self.held = True
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
            return True
        return False

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        if self.held:
            self.held = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
