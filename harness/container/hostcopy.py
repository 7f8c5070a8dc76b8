"""Host copies of an image's /usr and working folder, bind-mounted read-only into its cells.

Why: where the daemon's storage driver is fuse-overlayfs (this machine's), every lookup,
open and read of an image's file goes through a FUSE daemon. An engine's start reads
hundreds of them (the interpreter, its standard library, the candidate's sources), and
so does every probe step: a Python start took 55-80 ms longer in a container than from a
host folder, most of a Docker cell's overhead over a local one (issue 16 item 5). The
same files bind-mounted from a plain host folder cost what they cost on the host.

Copies live under the harness's cache (`harness.cachedir`), in a folder only its owner
can enter, one folder per image id, and never change. What is copied (`for_candidate`):

- for an image the harness built from its own recipe (the base image and the
  candidate's files at its working folder): the base image's /usr, once for every such
  candidate, and the working folder from the same build context the image was built
  from;
- for an image of the candidate's own Dockerfile (or a working folder under /usr): /usr
  and the working folder of the image itself, as `docker export` gives its file system
  (of a container created from it and never started).

A copy is faithful or not used:

- Every member's path must stay inside the copy, also through the links extracted before
  it (`tarfile.tar_filter`'s checks); a hard link must name a file in the copy that is
  no symbolic link. A symbolic link is kept as it is, whatever it points to: it is only
  ever followed inside the container, where it means what it means in the image.
- A device, a FIFO or an unknown member type refuses the copy, and so do more than
  `MAX_BYTES` or `MAX_MEMBERS` in the copied folders, or an export over `MAX_EXPORT`
  (spooled to the host's disk, it is stopped there). A refused copy is remembered (`REFUSED`), and the cells
  of that image read the image's own files, as without a copy: slower, never different.
- Setuid, setgid and sticky bits and group/other write bits are dropped (tar_filter),
  so the host holds no setuid file of a candidate's. A cell runs with
  no-new-privileges, where those bits do nothing, and its mounts are read-only.
- Owners are kept by number where the harness runs as root; otherwise every file is the
  harness user's, as is the cell's user.

A copy is built in a `.partial-` folder under a lock, and renamed into place whole, so a
copy that exists is complete (a partial one left by a killed harness is removed when the
copy is next made). `collect` (`harness gc`) removes the copies of images that no longer
exist.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import docker
import docker.errors

from harness import cachedir, owner
from harness.container import images
from harness.container.client import TRANSIENT, daemon_call, owner_labels
from harness.errors import InfraError
from harness.model import Candidate

MAX_BYTES = 2 << 30  # a bigger image is read through the storage driver, as without a copy
MAX_MEMBERS = 400_000
MAX_EXPORT = 2 * MAX_BYTES  # the whole export is spooled to the host's disk first
REFUSED = "REFUSED"  # a file in the copies' folder: this image's copy was refused, and why
# Mount points the cell itself or the daemon owns: a working folder there is not copied.
NOT_COPIED = frozenset({"", "proc", "sys", "dev", "run", "tmp", "etc", "cell", "harness", "usr"})
# The folders of a copy, beside where the cell sees them.
USR = "usr"


@dataclass(frozen=True, slots=True)
class Bind:
    """One folder of a copy and where the cell sees it (read-only)."""

    host: str
    target: str


@dataclass(frozen=True, slots=True)
class Copy:
    """An image's host copy: the folders to bind, or why there are none."""

    binds: tuple[Bind, ...]
    refused: str = ""


class Refused(Exception):
    """The image's files cannot be copied faithfully and safely."""


def root() -> Path:
    return cachedir.root() / "hostcopy"


def wanted(client: docker.DockerClient) -> bool:
    """Whether copies pay here: only where the storage driver is fuse-overlayfs (kernel
    overlay and the rest read image files at the host's speed)."""
    try:
        info = daemon_call("ask the daemon's storage driver", client.info, attempts=1)
    except InfraError:
        return False  # a daemon that cannot say: its cells read the image's own files
    return str(info.get("Driver", "")) == "fuse-overlayfs"


def _workdir_rel(workdir: str) -> str | None:
    """The working folder as a path in the copy, or None where it is not copied."""
    norm = posixpath.normpath("/" + workdir).lstrip("/")
    if norm.split("/")[0] in NOT_COPIED:
        return None  # under /usr it is in /usr's copy already
    return norm


def _real_dir(base: Path, rel: str) -> bool:
    """Whether rel is a folder under base with no link on the way (a bind mount's source
    is resolved by the daemon, which would follow one)."""
    here = base
    for part in rel.split("/"):
        here = here / part
        try:
            st = os.lstat(here)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return False
    return True


def for_candidate(client: docker.DockerClient, c: Candidate, image_id: str) -> Copy:
    """The folders to bind into a cell of c, whose image is image_id, made where missing.

    An image the harness built from its own recipe is the base image's files plus the
    candidate's at its working folder, so its /usr is the base's: one copy of the base's
    /usr serves every such candidate, and its working folder is extracted from the very
    build context its image was built from (`images.context`). An image of the
    candidate's own Dockerfile, or one whose working folder is under /usr, is copied
    from its own export."""
    if why := _unfit():
        return Copy((), why)
    rel = _workdir_rel(c.docker.workdir)
    under_usr = posixpath.normpath("/" + c.docker.workdir).startswith("/usr/")
    if c.docker.dockerfile or under_usr:
        keep = [USR] + ([rel] if rel is not None else [])
        variant = "export-" + hashlib.sha256("\0".join(keep).encode()).hexdigest()[:12]
        folder, why = _made(image_id, variant, lambda dest: _export(client, image_id, dest, keep))
        if folder is None:
            return Copy((), why)
        return Copy(tuple(b for b in (_bind(folder, USR), rel and _bind(folder, rel)) if b))
    base_ref = c.docker.image or images.BASE_IMAGE
    base_id = daemon_call(f"inspect image {base_ref}", lambda: client.images.get(base_ref)).id
    usr, why = _made(str(base_id), USR, lambda dest: _export(client, str(base_id), dest, [USR]))
    binds = [_bind(usr, USR)] if usr is not None else []
    if rel is not None:
        work, why_work = _made(image_id, "context", lambda dest: _from_context(c, base_ref, dest, rel))
        binds.append(_bind(work, rel) if work is not None else None)
        why = why or why_work
    return Copy(tuple(b for b in binds if b is not None), why)


def _unfit() -> str:
    """Why the copies' folder cannot serve ('' when it can): a bind mount keeps its
    source's noexec, and nothing in /usr could then be run."""
    folder = root()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # the copies are the daemon's to bind, nobody else's to read
    if os.statvfs(folder).f_flag & os.ST_NOEXEC:
        return f"{folder} is on a file system mounted noexec"
    return ""


def _bind(folder: Path, rel: str) -> Bind | None:
    return Bind(str(folder / rel), "/" + rel) if _real_dir(folder, rel) else None


def _made(image_id: str, variant: str, make: Callable[[Path], None]) -> tuple[Path | None, str]:
    """The folder of image_id's copy called variant, made by make if it is not there yet;
    or None and why the copy was refused (remembered, so it is tried once per image)."""
    home = root() / image_id.removeprefix("sha256:")
    folder, refused = home / variant, home / f"{variant}.{REFUSED}"

    def found() -> tuple[Path | None, str] | None:
        if folder.is_dir():
            return folder, ""
        if refused.is_file():
            return None, refused.read_text(errors="replace").strip()
        return None

    if (hit := found()) is not None:
        return hit
    with cachedir.locked(f"hostcopy-{home.name[:16]}-{variant}"):
        if (hit := found()) is not None:  # another harness made it meanwhile
            return hit
        home.mkdir(exist_ok=True)
        partial = home / f".partial-{variant}"
        shutil.rmtree(partial, ignore_errors=True)  # a killed harness's: we hold the lock
        partial.mkdir()
        try:
            make(partial)
        except Refused as exc:
            shutil.rmtree(partial, ignore_errors=True)
            refused.write_text(f"{exc}\n")
            return None, str(exc)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        os.rename(partial, folder)
    return folder, ""


def _from_context(c: Candidate, base_ref: str, dest: Path, rel: str) -> None:
    """c's working folder as its image holds it: the candidate/ folder of its build
    context, extracted as `extract` extracts (the context is made from c's own files)."""
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        extract(images.context(c, base_ref), Path(tmp), ["candidate"])
        made = Path(tmp) / "candidate"
        made.mkdir(exist_ok=True)
        os.chmod(made, 0o755)  # as COPY makes it
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.rename(made, dest / rel)


def _export(client: docker.DockerClient, image_id: str, dest: Path, keep: list[str]) -> None:
    """Export image_id's file system and extract the folders keep into dest."""
    made = daemon_call("create a container to export an image's files", lambda: client.api.create_container(
        image_id, command=["true"], network_disabled=True,
        labels={**owner_labels(owner.me(), dest), "harness.hostcopy": "1"}))
    cid = str(made["Id"])
    try:
        with tempfile.TemporaryFile(dir=dest) as spool:
            try:
                for chunk in client.api.export(cid):
                    if spool.tell() + len(chunk) > MAX_EXPORT:
                        raise Refused(f"its export is over {MAX_EXPORT >> 30} GiB")
                    spool.write(chunk)
            except (docker.errors.APIError, *TRANSIENT) as exc:
                raise InfraError(f"Docker daemon failed exporting image {image_id[:19]}: {exc}") from None
            spool.seek(0)
            extract(spool, dest, keep)
    finally:
        try:
            client.api.remove_container(cid, force=True)
        except (docker.errors.APIError, *TRANSIENT):
            pass  # labelled with its owner: the next run, or harness gc, removes it


def extract(archive: BinaryIO, dest: Path, keep: list[str]) -> None:
    """Extract the members of archive (a seekable tar of a whole file system) under the
    folders keep into dest, as the module's docstring says, or raise Refused."""
    try:
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            members = list(_selected(tar, keep))
            tar.extractall(dest, members=members, numeric_owner=True, filter=_filter)
    except tarfile.TarError as exc:  # OSErrors are the host's: the copy is tried again
        raise Refused(f"not a tar that can be extracted: {exc}") from None


def _selected(tar: tarfile.TarFile, keep: list[str]) -> Iterator[tarfile.TarInfo]:
    total, count = 0, 0
    for m in tar:
        if ".." in m.name.split("/"):
            raise Refused(f"{m.name} has '..' in its path")
        name = posixpath.normpath(m.name.lstrip("/"))
        if not any(name == k or name.startswith(k + "/") for k in keep):
            continue
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            raise Refused(f"{m.name} is a special file (type {m.type!r})")
        total += m.size if m.isreg() else 0
        count += 1
        if total > MAX_BYTES or count > MAX_MEMBERS:
            raise Refused(f"over {MAX_BYTES >> 30} GiB or {MAX_MEMBERS} files under"
                          f" {', '.join('/' + k for k in keep)}")
        yield m


def _filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tar_filter's path checks and modes; links as described in the module's docstring."""
    try:  # tar_filter checks a link's own path, never its target: see above
        checked = tarfile.tar_filter(member, dest)
    except tarfile.FilterError as exc:
        raise Refused(str(exc)) from None
    if member.islnk():
        target = os.path.join(dest, member.linkname)
        real, top = os.path.realpath(target), os.path.realpath(dest)
        if (os.path.commonpath([real, top]) != top
                or os.path.islink(target) or not os.path.isfile(real)):
            raise Refused(f"{member.name} is a hard link to {member.linkname}, which is no"
                          " file of the copy")
    return checked


def collect(client: docker.DockerClient) -> list[str]:
    """Remove the copies of images the daemon no longer has (with any partial copy a
    killed harness left of them). The image ids whose copies were removed."""
    try:
        homes = sorted(p for p in root().iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    removed = []
    for home in homes:
        try:
            client.images.get(f"sha256:{home.name}")
            continue
        except docker.errors.ImageNotFound:
            pass
        except (docker.errors.APIError, *TRANSIENT):
            continue  # kept: asked again next time
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home.name)
    return removed
