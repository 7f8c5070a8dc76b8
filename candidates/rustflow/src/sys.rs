//! Thin wrappers over the POSIX calls the engine needs: directory fsync, flock, signals
//! through a self-pipe, process groups, and the held spawn of an attempt.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path holds a NUL byte"))
}

fn retry_eintr(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Open a directory read-only (close-on-exec), for fsync or flock.
pub fn open_dir(p: &Path) -> io::Result<RawFd> {
    let c = cpath(p)?;
    retry_eintr(|| unsafe {
        libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    })
}

pub fn close(fd: RawFd) {
    unsafe { libc::close(fd) };
}

pub fn fsync_fd(fd: RawFd) -> io::Result<()> {
    retry_eintr(|| unsafe { libc::fsync(fd) }).map(|_| ())
}

/// fsync a directory, so that the names created or linked in it are durable.
pub fn fsync_dir(p: &Path) -> io::Result<()> {
    let fd = open_dir(p)?;
    let r = fsync_fd(fd);
    close(fd);
    r
}

/// Flush the whole file system holding `p` (when a file cannot be opened to fsync).
pub fn syncfs_at(p: &Path) -> io::Result<()> {
    let fd = open_dir(p)?;
    let r = retry_eintr(|| unsafe { libc::syncfs(fd) }).map(|_| ());
    close(fd);
    r
}

/// fsync a regular file by path (its data, before it is published).
pub fn fsync_file(p: &Path) -> io::Result<()> {
    let c = cpath(p)?;
    let fd = retry_eintr(|| unsafe {
        libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
    })?;
    let r = fsync_fd(fd);
    close(fd);
    r
}

/// Try to take an exclusive flock without waiting: Ok(false) when another holds it.
pub fn try_flock(fd: RawFd) -> io::Result<bool> {
    match retry_eintr(|| unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

// ---- signals ------------------------------------------------------------------------

static WAKE_W: AtomicI32 = AtomicI32::new(-1);
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = unsafe { *libc::__errno_location() };
    if sig == libc::SIGTERM || sig == libc::SIGINT {
        let _ = STOP_SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    }
    let fd = WAKE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = [0u8; 1];
        unsafe { libc::write(fd, b.as_ptr().cast(), 1) };
    }
    unsafe { *libc::__errno_location() = saved };
}

/// The self-pipe's read end: readable whenever SIGCHLD, SIGTERM or SIGINT arrived.
pub struct Signals {
    pub wake_r: RawFd,
    wake_w: RawFd,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let mut fds = [0 as RawFd; 2];
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        WAKE_W.store(fds[1], Ordering::SeqCst);
        for sig in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT] {
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART | if sig == libc::SIGCHLD { libc::SA_NOCLDSTOP } else { 0 };
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(Signals { wake_r: fds[0], wake_w: fds[1] })
    }

    /// The first SIGTERM or SIGINT received, if any.
    pub fn stop_signal(&self) -> Option<i32> {
        match STOP_SIGNAL.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Sleep until a signal arrives or `timeout_ms` passes, then drain the pipe.
    pub fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd { fd: self.wake_r, events: libc::POLLIN, revents: 0 };
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        let mut buf = [0u8; 64];
        while unsafe { libc::read(self.wake_r, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }

    pub fn fds(&self) -> [RawFd; 2] {
        [self.wake_r, self.wake_w]
    }
}

// ---- processes ----------------------------------------------------------------------

/// A process group the engine may signal: an attempt's, never the engine's own (a stale
/// pgid in the log could name it after pid reuse).
fn signalable(pgid: i32) -> bool {
    pgid > 1 && pgid != unsafe { libc::getpgrp() } && pgid != unsafe { libc::getpid() }
}

pub fn kill_group(pgid: i32, sig: i32) {
    if signalable(pgid) {
        unsafe { libc::kill(-pgid, sig) };
    }
}

/// Whether any live (not zombie) process is in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    if !signalable(pgid) {
        return false;
    }
    if unsafe { libc::kill(-pgid, 0) } != 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return false;
    }
    // kill(2) also finds zombies, which nobody may reap soon: ask /proc who is alive.
    let Ok(dir) = std::fs::read_dir("/proc") else { return true };
    let mut seen_any = false;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else { continue };
        seen_any = true;
        // "pid (comm) S ppid pgrp ...": comm may hold anything, so parse after the last ')'
        let Some(close) = stat.iter().rposition(|&b| b == b')') else { continue };
        let rest = String::from_utf8_lossy(&stat[close + 1..]).into_owned();
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let _ppid = fields.next();
        let pgrp = fields.next().and_then(|s| s.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != "Z" && state != "X" {
            return true;
        }
    }
    // No /proc to read (or not ours to see): trust kill(2).
    !seen_any
}

/// An attempt's process, forked and waiting for the go-ahead before it execs.
pub struct Held {
    pub pid: i32,
    go_w: RawFd,
}

impl Held {
    /// Let the command run (its STEP_STARTED is durable).
    pub fn release(self) -> io::Result<()> {
        let b = [b'g'; 1];
        let n = unsafe { libc::write(self.go_w, b.as_ptr().cast(), 1) };
        let r = if n == 1 { Ok(()) } else { Err(io::Error::last_os_error()) };
        close(self.go_w);
        r
    }

    /// Never start the command: the child sees EOF and exits without exec.
    pub fn abandon(self) {
        close(self.go_w);
    }
}

pub struct SpawnSpec<'a> {
    pub argv: &'a [String],
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    pub stdout_path: &'a Path,
    /// Descriptors the child must not keep while it waits (the lock, the log).
    pub close_fds: Vec<RawFd>,
}

/// Fork a child that leads a new process group and waits on a pipe; once released it
/// execs the command with `env`, stdin from /dev/null and stdout+stderr to a file.
/// If the engine dies first, the child reads EOF and exits without running anything.
pub fn spawn_held(spec: &SpawnSpec) -> io::Result<Held> {
    // Everything the child needs is allocated here: after fork it only makes syscalls.
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| io::Error::other("a command word holds a NUL byte"))?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let envs: Vec<CString> = spec
        .env
        .iter()
        .filter_map(|(k, v)| {
            let mut kv = k.clone();
            kv.push(b'=');
            kv.extend_from_slice(v);
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let exec_failed: &[u8] = b"rustflow: could not exec the command\n";

    let out_c = cpath(spec.stdout_path)?;
    let out_fd = retry_eintr(|| unsafe {
        libc::open(
            out_c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o644 as libc::c_uint,
        )
    })?;
    let null_c = CString::new("/dev/null").unwrap();
    let null_fd = match retry_eintr(|| unsafe { libc::open(null_c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }) {
        Ok(fd) => fd,
        Err(e) => {
            close(out_fd);
            return Err(e);
        }
    };
    let mut go = [0 as RawFd; 2];
    if unsafe { libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        let e = io::Error::last_os_error();
        close(out_fd);
        close(null_fd);
        return Err(e);
    }
    let [go_r, go_w] = go;

    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        for fd in [out_fd, null_fd, go_r, go_w] {
            close(fd);
        }
        return Err(e);
    }
    if pid == 0 {
        // The child: async-signal-safe calls only.
        unsafe {
            libc::setpgid(0, 0);
            for &fd in &spec.close_fds {
                libc::close(fd);
            }
            libc::close(go_w);
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD, libc::SIGPIPE, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            let mut b = [0u8; 1];
            loop {
                let n = libc::read(go_r, b.as_mut_ptr().cast(), 1);
                if n == 1 {
                    break;
                }
                if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                libc::_exit(125); // the engine is gone: the command never starts
            }
            libc::dup2(null_fd, 0);
            libc::dup2(out_fd, 1);
            libc::dup2(out_fd, 2);
            libc::execvpe(argv_ptrs[0], argv_ptrs.as_ptr(), env_ptrs.as_ptr());
            libc::write(2, exec_failed.as_ptr().cast(), exec_failed.len());
            libc::_exit(127);
        }
    }
    // The parent sets the group too, so it exists whichever runs first.
    unsafe { libc::setpgid(pid, pid) };
    for fd in [out_fd, null_fd, go_r] {
        close(fd);
    }
    Ok(Held { pid, go_w })
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// A child that has exited, if any: its group is killed while the zombie still holds
/// its pid (so the pgid cannot be reused), then it is reaped.
pub fn reap_one(is_leader: impl Fn(i32) -> bool) -> Option<(i32, Exit)> {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        };
        if r != 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return None; // ECHILD: no children
        }
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            return None;
        }
        if is_leader(pid) {
            // Whatever the attempt left behind ends with it.
            kill_group(pid, libc::SIGKILL);
        }
        let mut status = 0;
        loop {
            let w = unsafe { libc::waitpid(pid, &mut status, 0) };
            if w == pid {
                break;
            }
            if w < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        let exit = if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        };
        return Some((pid, exit));
    }
}
