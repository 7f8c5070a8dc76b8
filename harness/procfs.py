"""Reading process facts from /proc: liveness, start times, process groups.

A pid alone is not an identity (pids are reused), so a process is named by its pid and
its start time in clock ticks since boot, as the probe records it. A zombie counts as
dead: it runs no code and holds no resources but its pid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgid: int
    starttime: int


def read_stat(pid: int, proc: str = "/proc") -> ProcStat | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2 :].split()
    return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def is_alive(pid: int, starttime: int | None) -> bool:
    """True when pid runs and is the same process that was recorded (not a reuse)."""
    st = read_stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return starttime is None or st.starttime == starttime


def all_stats(proc: str = "/proc") -> list[ProcStat]:
    stats = []
    for name in os.listdir(proc):
        if name.isdigit():
            st = read_stat(int(name), proc)
            if st is not None:
                stats.append(st)
    return stats


def live_in_groups(pgids: set[int]) -> list[ProcStat]:
    return [s for s in all_stats() if s.pgid in pgids and s.state not in ("Z", "X")]
