"""Images without a registry: the harness's Python base image and cached candidate images.

The base image is built from Debian's packages alone: ``debootstrap`` a minimal
bookworm with python3, procps (ps) and strace into a folder, trim it, and
``docker import`` it. No registry is asked for anything. Its tag names a digest of
the recipe, so a changed recipe gives a new image and an old one is never reused by
mistake.

A candidate image is the base image (or the candidate's named base image) with the
candidate's files copied to /candidate, or what the candidate's own Dockerfile
builds. It is tagged by a digest of every input (the base image id, the recipe, the
files but the manifest), so an unchanged candidate is never rebuilt and candidates
with identical files share one image.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from harness import cachedir
from harness.cells import content_digest
from harness.container.client import MANAGED, TRANSIENT, daemon_call
from harness.errors import CandidateSetupError, InfraError, UsageError
from harness.model import Candidate
from harness.tree import candidate_files

Say = Callable[[str], None]

SUITE = "bookworm"
PACKAGES = ("python3", "procps", "strace")
MIRROR = os.environ.get("HARNESS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SANDBOX_UID = 1000
RECIPE = f"debootstrap minbase {SUITE} +{','.join(PACKAGES)}; user cell={SANDBOX_UID}; v1"
BASE_REPO = "harness/base"
BASE_TAG = f"{SUITE}-{hashlib.sha256(RECIPE.encode()).hexdigest()[:12]}"
BASE_IMAGE = f"{BASE_REPO}:{BASE_TAG}"
CANDIDATE_REPO = "harness/candidate"
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
        "usr/share/info", "usr/share/locale")


def _exists(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker daemon refused to inspect image {ref}: {exc.explanation}") from None
    except TRANSIENT as exc:
        raise InfraError(f"Docker daemon did not answer while inspecting image {ref}: {exc}") from None


def bootstrap(client: docker.DockerClient, say: Say, *, force: bool = False) -> str:
    """The base image's id, building it first if it is missing (or force).

    Two harness runs starting together build it once: the second waits on a lock and
    then finds the image."""
    if not force and (found := _exists(client, BASE_IMAGE)):
        return found
    with cachedir.locked("bootstrap"):
        if not force and (found := _exists(client, BASE_IMAGE)):
            return found
        return _build_base(client, say)


def _build_base(client: docker.DockerClient, say: Say) -> str:
    if shutil.which("debootstrap") is None:
        raise UsageError("building the base image needs debootstrap, which is not installed:"
                         " apt-get install debootstrap (or use --runner local)")
    if os.geteuid() != 0:
        raise UsageError("building the base image runs debootstrap, which needs root: run"
                         " `sudo harness image bootstrap` once (or use --runner local)")
    say(f"building the base image {BASE_IMAGE} from Debian's packages ({RECIPE}); about a"
        " minute, once")
    with tempfile.TemporaryDirectory(prefix="harness-bootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
               str(rootfs), MIRROR]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise InfraError(f"debootstrap failed (exit {proc.returncode}) from {MIRROR}: "
                             + " | ".join(tail))
        for rel in TRIM:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        with open(rootfs / "etc/passwd", "a") as f:
            f.write(f"cell:x:{SANDBOX_UID}:{SANDBOX_UID}:cell:/tmp:/usr/sbin/nologin\n")
        with open(rootfs / "etc/group", "a") as f:
            f.write(f"cell:x:{SANDBOX_UID}:\n")
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."],
                       check=True)
        changes = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                   'ENV LANG=C.UTF-8', 'CMD ["/usr/bin/python3"]',
                   f'LABEL {MANAGED}=1 harness.recipe="{RECIPE}"']
        daemon_call("import the base image", lambda: client.api.import_image_from_file(
            str(tarball), repository=BASE_REPO, tag=BASE_TAG, changes=changes), attempts=1)
    found = _exists(client, BASE_IMAGE)
    if not found:
        raise InfraError(f"docker import reported success but {BASE_IMAGE} does not exist")
    say(f"built {BASE_IMAGE} ({found[:19]})")
    return found


def inputs_digest(c: Candidate, base_id: str) -> str:
    """sha256 over everything the image is made of, so equal inputs mean an equal image:
    the recipe, the base image, and the candidate's content digest (the results store
    keys its cells by the same digest)."""
    return hashlib.sha256(f"{RECIPE}\0{base_id}\0{content_digest(c)}".encode()).hexdigest()


def context(c: Candidate, base_ref: str) -> io.BytesIO:
    """A build context tar: the candidate's files under candidate/, and our Dockerfile."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, path in candidate_files(c):
            info = tar.gettarinfo(str(path), arcname=f"candidate/{rel}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if info.mode & 0o111 or info.isdir() else 0o644  # readable by the sandbox user
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        dockerfile = f"FROM {base_ref}\nCOPY candidate {c.docker.workdir}\nWORKDIR {c.docker.workdir}\n"
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def candidate_image(client: docker.DockerClient, c: Candidate, base_id: str, say: Say) -> tuple[str, str]:
    """(tag, image id) of c's image, built only if no image with its inputs digest exists."""
    digest = inputs_digest(c, base_id)
    tag = f"{CANDIDATE_REPO}:{digest[:24]}"
    if found := _exists(client, tag):
        return tag, found
    # Workers of one run (--jobs, Dask workers on one host) ask for the same image at
    # once: the first builds it, the others wait on this lock and then find it.
    with cachedir.locked(f"image-{digest[:24]}"):
        if found := _exists(client, tag):
            return tag, found
        return _build_candidate(client, c, tag, digest, say)


def _build_candidate(client: docker.DockerClient, c: Candidate, tag: str, digest: str,
                     say: Say) -> tuple[str, str]:
    labels = {MANAGED: "1", "harness.inputs": digest, "harness.candidate": c.name}
    say(f"building the image of {c.name} ({tag})")
    try:
        if c.docker.dockerfile:
            client.images.build(path=str(c.path), dockerfile=c.docker.dockerfile, tag=tag,
                                labels=labels, pull=False, rm=True, forcerm=True,
                                buildargs={"BASE_IMAGE": BASE_IMAGE})
        else:
            base_ref = c.docker.image or BASE_IMAGE
            if _exists(client, base_ref) is None:
                raise CandidateSetupError(f"{c.path}: base image {base_ref!r} is not on this"
                                          " machine, and no registry can be asked for it")
            client.images.build(fileobj=context(c, base_ref), custom_context=True, tag=tag,
                                labels=labels, pull=False, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(str(x.get("stream", x.get("error", ""))) for x in exc.build_log)[-800:]
        raise CandidateSetupError(f"the image of {c.name} does not build: {exc.msg}; {log.strip()}") from None
    except docker.errors.APIError as exc:
        if exc.is_client_error():
            raise CandidateSetupError(f"the image of {c.name} does not build:"
                                      f" {exc.explanation}") from None
        raise InfraError(f"Docker daemon failed building the image of {c.name}:"
                         f" {exc.explanation}") from None
    found = _exists(client, tag)
    if found is None:
        raise InfraError(f"the build of {tag} reported success but the image does not exist")
    return tag, found
