"""Candidate images: built once per distinct input, from the candidate's own Dockerfile if it
has one; a Dockerfile that does not build fails the candidate's checks, not the harness."""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest

from harness import api
from harness.container import images
from harness.manifest import load_candidate
from harness.model import Candidate, Outcome
from harness.runners.docker import DockerRunner

pytestmark = pytest.mark.docker
REFERENCE = Path(__file__).resolve().parents[2] / "candidates" / "reference"


def reference_copy(tmp_path: Path, name: str, extra: str = "") -> Path:
    folder = tmp_path / name
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "candidate.toml").write_text(
        f'name = "{name}"\nlanguage = "python"\nentrypoint = ["python3", "main.py"]\n{extra}')
    return folder


def clean_run_outcomes(runner: DockerRunner, cand: Candidate) -> set[Outcome]:
    scenario = next(s for s in api.all_scenarios() if s.name == "clean-run")
    cell = api.run_cell(runner, cand, scenario, 1)
    assert not cell.infra_error, cell.infra_error
    return {r.outcome for r in cell.results}


def test_unchanged_candidate_is_never_rebuilt(tmp_path: Path, client: docker.DockerClient) -> None:
    folder = reference_copy(tmp_path, "cache-probe")
    (folder / "marker.txt").write_text(f"{tmp_path}\n")  # inputs no earlier run has built
    said: list[str] = []
    cand = load_candidate(folder)
    first = DockerRunner(client, said.append, ahead=False).image_for(cand)
    assert any("building the image of cache-probe" in s for s in said)
    said.clear()
    second = DockerRunner(client, said.append, ahead=False).image_for(load_candidate(folder))
    assert second == first and not any("building" in s for s in said)
    (folder / "candidate.toml").write_text((folder / "candidate.toml").read_text()
                                           + 'description = "the manifest is not an input"\n')
    assert DockerRunner(client, said.append, ahead=False).image_for(load_candidate(folder)) == first
    (folder / "marker.txt").write_text("changed\n")
    third = DockerRunner(client, said.append, ahead=False).image_for(load_candidate(folder))
    assert third != first and any("building" in s for s in said)
    client.images.remove(first[0], force=True)
    client.images.remove(third[0], force=True)


def test_own_dockerfile(tmp_path: Path, docker_runner: DockerRunner) -> None:
    folder = reference_copy(tmp_path, "own-dockerfile",
                            '[docker]\ndockerfile = "Dockerfile"\nworkdir = "/opt/engine"\n')
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
                                       "COPY . /opt/engine\nRUN chmod -R a+rX /opt/engine\n")
    assert clean_run_outcomes(docker_runner, load_candidate(folder)) == {Outcome.PASS}


def test_dockerfile_that_does_not_build_fails_the_candidate(tmp_path: Path,
                                                           docker_runner: DockerRunner) -> None:
    folder = reference_copy(tmp_path, "bad-dockerfile", '[docker]\ndockerfile = "Dockerfile"\n')
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN exit 7\n")
    scenario = next(s for s in api.all_scenarios() if s.name == "clean-run")
    cell = api.run_cell(docker_runner, load_candidate(folder), scenario, 1)
    assert not cell.infra_error
    assert {r.outcome for r in cell.results} == {Outcome.FAIL}
    assert "does not build" in cell.results[0].evidence[0].seen


def test_missing_base_image_is_named(tmp_path: Path, docker_runner: DockerRunner) -> None:
    folder = reference_copy(tmp_path, "no-such-base", '[docker]\nimage = "nowhere/python:0"\n')
    scenario = next(s for s in api.all_scenarios() if s.name == "clean-run")
    cell = api.run_cell(docker_runner, load_candidate(folder), scenario, 1)
    assert "nowhere/python:0" in cell.results[0].evidence[0].seen
    assert "no registry" in cell.results[0].evidence[0].seen


def test_base_image_has_what_checks_need(client: docker.DockerClient) -> None:
    script = "for p in ps strace python3; do command -v $p; done"
    out = client.containers.run(images.BASE_IMAGE, ["sh", "-c", script], remove=True,
                                network_mode="none")
    assert out.decode().split() == ["/usr/bin/ps", "/usr/bin/strace", "/usr/bin/python3"]
