"""Render a local HTML file in headless Chromium and report what a reader would see.

The HTML report must open cleanly in a browser: no console errors, no script that
pops up a dialog, no horizontal scrolling at a desktop width. `render` loads one file
in a fresh headless Chromium and returns a `PageReport`: console errors, dialogs, the
values of caller-supplied JavaScript probes, a PNG of the viewport and the load time.

Chromium is driven over the Chrome DevTools Protocol through `--remote-debugging-pipe`
(NUL-terminated JSON, commands on fd 3, replies and events on fd 4), so nothing beyond
the standard library is needed and no port is opened. Every wait has a deadline; a
browser that is missing, does not start or stops answering raises `BrowserUnavailable`
with the tail of its stderr. Chromium runs in its own process group with a throwaway
profile directory, and both are gone when `render` returns or raises.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness import procfs

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")
SETTLE_S = 0.2  # after the load event, how long late console errors may still arrive
CLOSE_GRACE_S = 2.0  # Browser.close lets Chromium reap its own helpers before we kill the group
STDERR_TAIL = 1500  # characters of Chromium's stderr quoted in errors
CHILD_IN, CHILD_OUT = 3, 4  # the fds Chromium reads commands from and writes replies to

Message = dict[str, Any]


class BrowserUnavailable(Exception):
    """No Chromium binary, or it did not start, answer in time, or accept a command."""


@dataclass(frozen=True, slots=True)
class PageReport:
    console_errors: tuple[str, ...]
    dialogs: tuple[str, ...]
    values: dict[str, Any]
    screenshot: bytes
    load_ms: float


def chromium_path() -> str | None:
    """$HARNESS_CHROMIUM if it names an executable (else None), or the first Chromium on PATH."""
    configured = os.environ.get("HARNESS_CHROMIUM")
    if configured is not None:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


# ---- the pipe ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fds:
    """Our ends of the two pipes and the child's ends, lifted above fd 4 (see `_pipes`)."""

    ours_write: int
    ours_read: int
    child_read: int
    child_write: int
    originals: tuple[int, ...]  # the child's ends as os.pipe returned them


def _pipes() -> _Fds:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # The child's ends are copied to fds >= 5 so that moving them onto 3 and 4 in the child
    # cannot overwrite one with the other. Keeping the originals open until the child has
    # started also guarantees that fds 3 and 4 exist here, which pass_fds requires.
    child_read = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, CHILD_OUT + 1)
    child_write = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, CHILD_OUT + 1)
    os.set_blocking(to_child_w, False)  # so that a browser that stops reading meets a deadline
    return _Fds(ours_write=to_child_w, ours_read=from_child_r, child_read=child_read,
                child_write=child_write, originals=(to_child_r, from_child_w))


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _child_setup(fds: _Fds) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec: no allocation-heavy work
        os.dup2(fds.child_read, CHILD_IN)
        os.dup2(fds.child_write, CHILD_OUT)
    return setup


def _tail(path: Path) -> str:
    """The last whole lines of Chromium's stderr, for error messages."""
    try:
        with path.open("rb") as f:
            start = max(0, path.stat().st_size - STDERR_TAIL)
            f.seek(start)
            data = f.read()
    except OSError:
        return "(no stderr)"
    if start > 0:
        data = data.partition(b"\n")[2]
    return data.decode("utf-8", "replace").strip() or "(empty stderr)"


def _error_message(reply: Message) -> str:
    error = reply.get("error", {})
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


class _Connection:
    """One CDP connection: commands out, replies matched by id, events queued in order."""

    def __init__(self, write_fd: int, read_fd: int, stderr: Path) -> None:
        self._write_fd = write_fd
        self._read_fd = read_fd
        self._stderr = stderr
        self._buffer = b""
        self._next_id = 0
        self._replies: dict[int, Message] = {}
        self._ignored: set[int] = set()
        self.events: deque[tuple[float, Message]] = deque()  # (monotonic time read, event)
        self.on_event: Callable[[Message], None] = lambda _event: None

    def fail(self, what: str, why: str) -> BrowserUnavailable:
        return BrowserUnavailable(f"chromium {why} while {what}; its stderr ends:\n{_tail(self._stderr)}")

    def send(self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None,
             *, deadline: float, ignore_reply: bool = False) -> int:
        self._next_id += 1
        message: Message = {"id": self._next_id, "method": method, "params": dict(params or {})}
        if session is not None:
            message["sessionId"] = session
        self._write(json.dumps(message).encode() + b"\0", deadline, f"sending {method}")
        if ignore_reply:
            self._ignored.add(self._next_id)
        return self._next_id

    def _write(self, data: bytes, deadline: float, what: str) -> None:
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self._write_fd], [], remaining)[1]:
                raise TimeoutError(what)
            try:
                data = data[os.write(self._write_fd, data):]
            except BlockingIOError:
                continue
            except OSError as e:
                raise self.fail(what, f"stopped reading commands ({e})") from e

    def request(self, method: str, params: Mapping[str, Any] | None = None,
                session: str | None = None, *, deadline: float) -> Message:
        """The whole reply: {"result": ...} or {"error": {"message": ...}}."""
        sent = self.send(method, params, session, deadline=deadline)
        while sent not in self._replies:
            self.pump(deadline, f"waiting for the reply to {method}")
        return self._replies.pop(sent)

    def call(self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None,
             *, deadline: float) -> Message:
        """The result of a command that must succeed."""
        reply = self.request(method, params, session, deadline=deadline)
        if "error" in reply:
            raise self.fail(f"running {method}", f"refused it ({_error_message(reply)})")
        result: Message = reply.get("result", {})
        return result

    def wait_event(self, match: Callable[[Message], bool], deadline: float, what: str) -> float:
        """Consume queued events up to and including the first that matches; when it was read."""
        while True:
            while self.events:
                received, event = self.events.popleft()
                if match(event):
                    return received
            self.pump(deadline, what)

    def pump(self, deadline: float, what: str) -> None:
        """Read and dispatch at least one message, or raise at the deadline."""
        while b"\0" not in self._buffer:
            self._read_some(deadline, what)
        raw, self._buffer = self._buffer.split(b"\0", 1)
        self._dispatch(json.loads(raw))

    def drain_until(self, until: float) -> None:
        """Dispatch whatever arrives before `until` (a listening spell, not a deadline)."""
        while time.monotonic() < until:
            with contextlib.suppress(TimeoutError):
                self.pump(until, "collecting late events")

    def _read_some(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(what)
        ready, _, _ = select.select([self._read_fd], [], [], remaining)
        if not ready:
            raise TimeoutError(what)
        chunk = os.read(self._read_fd, 1 << 20)
        if not chunk:
            raise self.fail(what, "closed its end of the pipe (exited?)")
        self._buffer += chunk

    def _dispatch(self, message: Message) -> None:
        if "id" in message:
            if message["id"] in self._ignored:
                self._ignored.discard(message["id"])
            else:
                self._replies[message["id"]] = message
            return
        self.on_event(message)
        self.events.append((time.monotonic(), message))


# ---- the browser process ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Browser:
    process: subprocess.Popen[bytes]
    connection: _Connection


def _argv(binary: str, profile: Path) -> list[str]:
    return [binary, *FLAGS, f"--user-data-dir={profile}"]


def _spawn(binary: str, profile: Path, stderr: IO[bytes], fds: _Fds) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(_argv(binary, profile), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
                                pass_fds=(CHILD_IN, CHILD_OUT), preexec_fn=_child_setup(fds))
    except (OSError, subprocess.SubprocessError) as e:
        raise BrowserUnavailable(f"could not start chromium {binary}: {e}") from e


def _stop(browser: _Browser, *, graceful: bool) -> None:
    """Kill Chromium's whole process group; after a clean run, first let it close itself.

    Browser.close lets Chromium shut its helpers down in order. Its zygotes still outlive
    it by a moment and are reparented to init, so they are waited for (as zombies are dead,
    only until they stop running), not reaped.
    """
    process = browser.process
    if graceful:
        deadline = time.monotonic() + CLOSE_GRACE_S
        with contextlib.suppress(BrowserUnavailable, TimeoutError):
            browser.connection.send("Browser.close", deadline=deadline, ignore_reply=True)
        while not _exited(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    # Not reaped yet, so the group id cannot have been reused by the time it is killed.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    _wait_group_gone(process.pid, time.monotonic() + CLOSE_GRACE_S)


def _exited(pid: int) -> bool:
    """Whether our child has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_group_gone(pgid: int, deadline: float) -> None:
    if not os.path.isdir("/proc"):
        return
    while procfs.live_in_groups({pgid}) and time.monotonic() < deadline:
        time.sleep(0.01)


def _start(binary: str, workdir: Path, fds: _Fds) -> _Browser:
    stderr_path = workdir / "stderr.log"
    try:
        with stderr_path.open("wb") as stderr:
            process = _spawn(binary, workdir / "profile", stderr, fds)
    finally:  # the child has its copies (or never will); ours would hide its exit from us
        _close_all((fds.child_read, fds.child_write, *fds.originals))
    return _Browser(process, _Connection(fds.ours_write, fds.ours_read, stderr_path))


@contextlib.contextmanager
def _browser(binary: str) -> Iterator[_Browser]:
    """A running Chromium with a fresh profile; killed, with its files removed, on exit."""
    with contextlib.ExitStack() as cleanup:
        fds = _pipes()
        cleanup.callback(_close_all, (fds.ours_write, fds.ours_read))
        workdir = Path(tempfile.mkdtemp(prefix="harness-chromium-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        browser = _start(binary, workdir, fds)
        try:
            yield browser
        except BaseException:
            _stop(browser, graceful=False)
            raise
        _stop(browser, graceful=True)


# ---- the page ---------------------------------------------------------------------------------


def _remote_text(obj: Mapping[str, Any]) -> str:
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(obj.get("description") or obj.get("unserializableValue") or obj.get("type", "?"))


def _value_of(obj: Mapping[str, Any]) -> Any:
    """A RemoteObject returned by value; Infinity, NaN, -0 as floats and BigInts as ints."""
    raw = obj.get("unserializableValue")
    if isinstance(raw, str):
        return int(raw[:-1]) if raw.endswith("n") else float(raw)
    return obj.get("value")


def _where(url: str | None, line: int | None) -> str:
    if not url:
        return ""
    return f" ({url}:{line + 1})" if line is not None else f" ({url})"


def _console_text(params: Mapping[str, Any]) -> str:
    text = " ".join(_remote_text(arg) for arg in params.get("args", []))
    frames = params.get("stackTrace", {}).get("callFrames", [])
    place = _where(frames[0].get("url"), frames[0].get("lineNumber")) if frames else ""
    return f"console.{params['type']}: {text}{place}"


def _exception_text(details: Mapping[str, Any]) -> str:
    exception = details.get("exception")
    described = exception.get("description") if exception else None
    message = described.splitlines()[0] if described else ""
    text = details.get("text", "Uncaught")
    headline = f"{text} {message}" if message and message not in text else text
    return headline + _where(details.get("url"), details.get("lineNumber"))


def _log_text(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('source', 'log')}: {entry.get('text', '')}{_where(entry.get('url'), None)}"


def _error_of(event: Message) -> str | None:
    """The console error an event reports, as text, or None if it reports none."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return _console_text(params)
    if method == "Runtime.exceptionThrown":
        return _exception_text(params.get("exceptionDetails", {}))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return _log_text(params["entry"])
    return None


class _Page:
    """One tab, attached with a flat session; dialogs are accepted as soon as they open."""

    def __init__(self, connection: _Connection, deadline: float) -> None:
        self.connection = connection
        self.deadline = deadline
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        target = connection.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)
        attached = connection.call("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True}, deadline=deadline)
        self.session: str = attached["sessionId"]
        connection.on_event = self._on_event

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Message:
        return self.connection.call(method, params, self.session, deadline=self.deadline)

    def _on_event(self, event: Message) -> None:
        if event.get("sessionId") != self.session:
            return
        if event.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(event["params"].get("message", ""))
            self.connection.send("Page.handleJavaScriptDialog", {"accept": True}, self.session,
                                 deadline=self.deadline, ignore_reply=True)
        error = _error_of(event)
        if error is not None:
            self.errors.append(error)

    def setup(self, width: int, height: int) -> None:
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def load(self, url: str) -> float:
        """Navigate and wait for the load event; milliseconds from sending to the event."""
        self.connection.events.clear()  # anything about:blank said before this is not ours
        started = time.monotonic()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserUnavailable(f"chromium could not open {url}: {result['errorText']}")
        self._wait("Page.frameNavigated", f"{url} to start loading", main_frame=True)
        loaded = self._wait("Page.loadEventFired", f"the load event of {url}")
        self.connection.drain_until(min(loaded + SETTLE_S, self.deadline))
        return (loaded - started) * 1000.0

    def _wait(self, method: str, what: str, *, main_frame: bool = False) -> float:
        def match(event: Message) -> bool:
            if event.get("sessionId") != self.session or event.get("method") != method:
                return False
            frame = event.get("params", {}).get("frame", {})
            return not main_frame or ("parentId" not in frame and frame.get("url") != "about:blank")
        return self.connection.wait_event(match, self.deadline, f"waiting for {what}")

    def probe(self, name: str, expression: str) -> Any:
        """The JSON value of `expression`; None, with an error recorded, if it throws or has none."""
        reply = self.connection.request(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session, deadline=self.deadline)
        result = reply.get("result", {})
        if "error" in reply:  # e.g. "Object reference chain is too long" for `window`
            self.errors.append(f"probe {name}: its value cannot be returned: {_error_message(reply)}")
        elif "exceptionDetails" in result:
            self.errors.append(f"probe {name}: {_exception_text(result['exceptionDetails'])}")
        else:
            return _value_of(result.get("result", {}))
        return None

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])


def render(path: Path, *, width: int = 1280, height: int = 800, probes: Mapping[str, str] | None = None,
           screenshot: bool = True, timeout: float = 30.0) -> PageReport:
    """Load `path` in a fresh headless Chromium; `timeout` bounds the whole call."""
    if not path.is_file():
        raise FileNotFoundError(f"no page to render at {path}")
    binary = chromium_path()
    if binary is None:
        raise BrowserUnavailable("no chromium: set HARNESS_CHROMIUM or put chromium on PATH")
    url = path.resolve().as_uri()
    deadline = time.monotonic() + timeout
    with _browser(binary) as browser:
        try:
            page = _Page(browser.connection, deadline)
            page.setup(width, height)
            load_ms = page.load(url)
            values = {name: page.probe(name, expr) for name, expr in (probes or {}).items()}
            image = page.screenshot() if screenshot else b""
        except TimeoutError as e:
            raise browser.connection.fail(str(e), "did not answer in time") from e
    return PageReport(console_errors=tuple(page.errors), dialogs=tuple(page.dialogs), values=values,
                      screenshot=image, load_ms=load_ms)
