"""The resource limits of a Docker cell, apart from the Docker runner itself.

`Limits` travels in every `RunnerSpec`, which the CLI, the API and each worker process
build or unpickle whichever runner they use; here it costs no import of the Docker SDK
(a tenth of a second of every harness command that runs only local cells).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import cellfs


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one cell's container."""

    pids: int = 512
    memory_mb: int = 1024
    cpus: float = 2.0
    tmpfs_mb: int = 64
    wall_s: float = 600.0
    disk_mb: int = cellfs.SIZE_MB  # the cell's folder on the host (harness.cellfs)


DEFAULT_LIMITS = Limits()
