"""rustflow under the Docker runner: every check passes, execution 10, as under the local
runner (tests/integration/test_rustflow.py). The container has no cargo and mounts the
candidate read-only, so this also shows the committed static binary runs there as an
unprivileged user without network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_rustflow import assert_perfect, score

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_rustflow_passes_every_check_under_the_docker_runner(tmp_path: Path) -> None:
    doc: dict[str, Any] = score("docker", tmp_path / "out")
    assert_perfect(doc, "docker")
