"""Running step commands as subprocesses, and stopping them."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, Optional

TERMINATE_GRACE_S = 2.0


@dataclass
class RunningStep:
    step: str
    attempt: int
    process: subprocess.Popen
    started_at: float
    deadline: Optional[float]
    output_path: str
    timed_out: bool = False
    terminated_at: Optional[float] = None


class Executor:
    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.work_dir = os.path.join(state_dir, "work")
        self.logs_dir = os.path.join(state_dir, "logs")

    def output_path(self, step: str, attempt: int) -> str:
        return os.path.join(self.work_dir, f"{step}.{attempt}.out")

    def spawn(self, step: str, attempt: int, command: list, timeout_s: Optional[float]) -> RunningStep:
        output = self.output_path(step, attempt)
        if os.path.exists(output):
            os.remove(output)
        env = os.environ.copy()
        env.update({
            "ENGINE_STEP_ID": step,
            "ENGINE_ATTEMPT": str(attempt),
            "ENGINE_STATE_DIR": self.state_dir,
            "ENGINE_OUTPUT": output,
        })
        stdout = open(os.path.join(self.logs_dir, f"{step}.{attempt}.stdout"), "wb")
        stderr = open(os.path.join(self.logs_dir, f"{step}.{attempt}.stderr"), "wb")
        try:
            process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr,
                                       stdin=subprocess.DEVNULL)
        finally:
            stdout.close()
            stderr.close()
        now = time.monotonic()
        deadline = now + timeout_s if timeout_s is not None else None
        return RunningStep(step, attempt, process, now, deadline, output)

    @staticmethod
    def pgid_of(pid: int) -> int:
        try:
            return os.getpgid(pid)
        except ProcessLookupError:
            return pid

    def terminate(self, running: RunningStep) -> None:
        """Ask the step to stop (SIGTERM)."""
        if running.terminated_at is None:
            running.terminated_at = time.monotonic()
            try:
                running.process.terminate()
            except ProcessLookupError:
                pass

    def kill(self, running: RunningStep) -> None:
        try:
            running.process.kill()
        except ProcessLookupError:
            pass

    def stop_all(self, running: Dict[str, RunningStep]) -> None:
        """Terminate every running step, then kill what is left after the grace period."""
        for r in running.values():
            self.terminate(r)
        deadline = time.monotonic() + TERMINATE_GRACE_S
        while time.monotonic() < deadline and any(r.process.poll() is None for r in running.values()):
            time.sleep(0.05)
        for r in running.values():
            if r.process.poll() is None:
                self.kill(r)
                r.process.wait()
