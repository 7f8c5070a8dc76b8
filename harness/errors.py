"""One root exception for the harness, with a subclass per kind of failure.

Every error carries the exit code the CLI gives for it, so the CLI never has to guess
and a user never sees a traceback. `InfraError` is the environment's failure (a dead
daemon, a full disk, a runner that cannot start): it is reported apart from the
candidate's results and never counted against a candidate.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 2


class UsageError(HarnessError):
    """The user asked for something that does not exist or makes no sense."""

    exit_code = 2


class ManifestError(HarnessError):
    """A candidate folder or its candidate.toml is malformed; names the file."""

    exit_code = 2


class ScenarioError(HarnessError):
    """A scenario file is malformed; names the file and the key."""

    exit_code = 2


class InfraError(HarnessError):
    """The harness or the machine broke, not the candidate."""

    exit_code = 3


class SpawnError(InfraError):
    """The runner could not exec a program in the cell (the message names why)."""


class RunnerUnavailableError(InfraError):
    """A runner cannot be used at all here (for example, no Docker daemon answers)."""


class CandidateSetupError(HarnessError):
    """The candidate cannot be set up to run (its own Dockerfile does not build).

    Unlike `InfraError` this is the candidate's failure: its cells' checks fail. It never
    reaches the CLI from a scoring run; where it does, the run could not happen at all,
    which exits 3 (1 means only "below --fail-under")."""

    exit_code = 3


class CellLimitReached(HarnessError):
    """A cell's wall-clock limit passed: its engine was ended and its procedure stops.

    Not an infrastructure failure: the cell is judged on what was seen until then, and a
    candidate that did not finish fails the checks that needed it to. Raised by the
    scenario driver at the harness's own limit, and by a runner whose backstop (the
    container's own deadline) ended the cell; `harness.api.run_cell` catches it."""

    exit_code = 3


class ScoringDataError(HarnessError):
    """A scoring data file (signals, profiles) is malformed; names the file and the key."""

    exit_code = 2


class ReportInputError(HarnessError):
    """A results.json given to `harness report` is missing, malformed or of another schema."""

    exit_code = 2
