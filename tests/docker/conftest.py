"""Docker tests: they run where a daemon answers (CI has one) and skip, saying why, elsewhere.

The base image must exist; `.ci/run` builds it (`make image`). Where it is missing and
cannot be built here, the tests skip with the builder's own reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import docker
import pytest

from harness.container import images
from harness.container.client import connect
from harness.errors import HarnessError
from harness.runners.docker import DockerRunner, Limits


@cache
def _client_or_reason() -> docker.DockerClient | str:
    try:
        client = connect()
        images.bootstrap(client, print)
    except HarnessError as exc:
        return f"Docker tests need a daemon and the base image: {exc}"
    return client


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        found = _client_or_reason()
        if isinstance(found, str):
            pytest.skip(found)


@pytest.fixture(scope="session")
def client() -> docker.DockerClient:
    found = _client_or_reason()
    assert not isinstance(found, str)
    return found


@pytest.fixture
def docker_runner(client: docker.DockerClient) -> Iterator[DockerRunner]:
    runner = DockerRunner(client, print, Limits())
    yield runner
    runner.close()
