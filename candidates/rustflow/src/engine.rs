//! `run WORKFLOW_JSON STATE_DIR`: recovery by replay, then a single-threaded scheduling
//! loop that sleeps in poll(2) on a self-pipe woken by SIGCHLD, SIGTERM and SIGINT.
//!
//! The log is the only state. Every event is one O_APPEND write plus fsync before
//! anything acts on it; an attempt's process is forked holding, leads its own process
//! group, and execs the command only once its STEP_STARTED is durable.

use crate::log::{self, quote, Event, Kind, Reason, Writer};
use crate::sha256;
use crate::sys::{self, Exit, Signals, SpawnSpec};
use crate::workflow::Workflow;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Exit code of an internal error (anything outside 0-4 and the signal exits).
const INTERNAL: i32 = 70;
/// After SIGTERM to a group, SIGKILL follows this much later if any of it is left.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// Longest sleep of the loop even with nothing due: a safety net, never needed.
const MAX_SLEEP: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Not running; starts once every dependency has succeeded.
    Pending,
    Running,
    /// A retry scheduled: attempt number `attempt` starts at `due`.
    Waiting { attempt: u64, due: Instant },
    Succeeded { attempt: u64 },
    Failed,
}

#[derive(Debug, Clone)]
struct StepState {
    phase: Phase,
    /// Failed attempts that count toward max_attempts (lost ones do not).
    failures: u64,
    /// Highest attempt number the log names for the step.
    max_attempt: u64,
    /// A failure with a retry left, but its STEP_RETRY_SCHEDULED never made it.
    retry_unscheduled: bool,
}

struct Running {
    step: usize,
    attempt: u64,
    pid: i32,
    deadline: Option<Instant>,
    timed_out: bool,
    kill_at: Option<Instant>,
}

struct Engine {
    wf: Workflow,
    /// sha256 of the workflow file's bytes, as validated.
    digest: String,
    state_dir: PathBuf,
    work_dir: PathBuf,
    outputs_dir: PathBuf,
    steps: Vec<StepState>,
    running: Vec<Running>,
    log: Writer,
    signals: Signals,
    lock_fd: i32,
    base_env: Vec<(Vec<u8>, Vec<u8>)>,
    spawn_pause_until: Option<Instant>,
}

fn err2(msg: impl std::fmt::Display) -> i32 {
    eprintln!("rustflow: {msg}");
    2
}

/// The wall-clock time `ts + delay` as an Instant (now, if it has passed).
fn due_instant(ts: f64, delay: f64) -> Instant {
    let left = ts + delay - log::now_ts();
    let now = Instant::now();
    if left > 0.0 && left.is_finite() {
        now + Duration::from_secs_f64(left.min(1e9))
    } else {
        now
    }
}

/// A file-name-safe form of a step id, for the per-attempt files under work/.
fn work_stem(idx: usize, id: &str) -> String {
    let safe: String = id
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{idx}-{safe}")
}

/// An attempt the log shows running: (step index, attempt, pgid).
type OpenAttempt = (usize, u64, i32);

/// Replay the log into per-step state, and the attempts it shows running
/// (step, attempt, pgid). Err: an event the workflow cannot explain (damage).
fn replay(wf: &Workflow, events: &[Event]) -> Result<(Vec<StepState>, Vec<OpenAttempt>), String> {
    let mut steps = vec![
        StepState { phase: Phase::Pending, failures: 0, max_attempt: 0, retry_unscheduled: false };
        wf.steps.len()
    ];
    let mut open: BTreeMap<(usize, u64), i32> = BTreeMap::new();
    for (n, e) in events.iter().enumerate() {
        let Some(id) = e.step() else { continue };
        let idx = wf
            .index_of(id)
            .ok_or_else(|| format!("event {} names step {id:?}, not in the workflow", n + 1))?;
        let st = &mut steps[idx];
        match &e.kind {
            Kind::StepStarted { attempt, pgid, .. } => {
                st.max_attempt = st.max_attempt.max(*attempt);
                st.phase = Phase::Pending;
                st.retry_unscheduled = false;
                open.insert((idx, *attempt), *pgid);
            }
            Kind::StepSucceeded { attempt, .. } => {
                open.remove(&(idx, *attempt));
                st.phase = Phase::Succeeded { attempt: *attempt };
                st.retry_unscheduled = false;
            }
            Kind::StepFailed { attempt, reason, .. } => {
                open.remove(&(idx, *attempt));
                if *reason != Reason::Lost {
                    st.failures += 1;
                    if st.failures >= wf.steps[idx].retry.max_attempts {
                        st.phase = Phase::Failed;
                        st.retry_unscheduled = false;
                    } else {
                        st.phase = Phase::Pending;
                        st.retry_unscheduled = true;
                    }
                } else if !matches!(st.phase, Phase::Succeeded { .. } | Phase::Failed) {
                    st.phase = Phase::Pending;
                }
            }
            Kind::StepRetryScheduled { attempt, delay_s, .. } => {
                st.phase = Phase::Waiting { attempt: *attempt, due: due_instant(e.ts, *delay_s) };
                st.retry_unscheduled = false;
            }
            _ => {}
        }
    }
    Ok((steps, open.into_iter().map(|((i, a), g)| (i, a, g)).collect()))
}

/// An attempt's output file made durable: fsync it, or when the engine may not open it
/// (a step may chmod its output), flush the whole file system.
fn sync_output(file: &Path, dir: &Path) -> io::Result<()> {
    sys::fsync_file(file).or_else(|_| sys::syncfs_at(dir))
}

pub fn run(workflow_path: &Path, state_dir: &Path) -> i32 {
    // 1. Validate the whole workflow before touching STATE_DIR.
    let bytes = match fs::read(workflow_path) {
        Ok(b) => b,
        Err(e) => return err2(format!("cannot read the workflow file {}: {e}", workflow_path.display())),
    };
    let wf = match crate::workflow::parse(&bytes) {
        Ok(wf) => wf,
        Err(msg) => return err2(format!("invalid workflow: {msg}")),
    };
    let digest = sha256::hex_digest(&bytes);
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rustflow: cannot install signal handlers: {e}");
            return INTERNAL;
        }
    };
    let state_dir = match std::path::absolute(state_dir) {
        Ok(p) => p,
        Err(e) => return err2(format!("{}: {e}", state_dir.display())),
    };

    // 2. STATE_DIR, and the lock on it, taken without waiting.
    match fs::symlink_metadata(&state_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return err2(format!("{}: exists and is not a directory", state_dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Err(e) = fs::create_dir_all(&state_dir) {
                return err2(format!("cannot create {}: {e}", state_dir.display()));
            }
            if let Some(parent) = state_dir.parent() {
                let _ = sys::fsync_dir(parent);
            }
        }
        Err(e) => return err2(format!("{}: {e}", state_dir.display())),
    }
    let lock_fd = match sys::open_dir(&state_dir) {
        Ok(fd) => fd,
        Err(e) => return err2(format!("cannot open {}: {e}", state_dir.display())),
    };
    match sys::try_flock(lock_fd) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("rustflow: {} is locked by another live engine", state_dir.display());
            return 4;
        }
        Err(e) => return err2(format!("cannot lock {}: {e}", state_dir.display())),
    }

    // 3. Read the log; damage changes nothing.
    let log_path = state_dir.join(log::LOG_NAME);
    let existing = match fs::symlink_metadata(&log_path) {
        Ok(m) if m.is_file() => match fs::read(&log_path) {
            Ok(b) => Some(b),
            Err(e) => return err2(format!("cannot read {}: {e}", log_path.display())),
        },
        Ok(_) => return err2(format!("{} is not a regular file", log_path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return err2(format!("{}: {e}", log_path.display())),
    };
    let contents = match log::parse_log(existing.as_deref().unwrap_or(b"")) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("rustflow: the event log is damaged, refusing to run: {why}");
            return 3;
        }
    };

    // 4. A resume must use the very workflow file the log was started with.
    if let Some(Event { kind: Kind::WorkflowStarted { digest: started }, .. }) = contents.events.first() {
        if *started != digest {
            return err2(format!(
                "the workflow file differs from the one this log was started with (sha256 {digest}, log has {started})"
            ));
        }
    }
    // 5. A finished log: nothing to do.
    match contents.events.last().map(|e| &e.kind) {
        Some(Kind::WorkflowSucceeded) => return 0,
        Some(Kind::WorkflowFailed) => return 1,
        _ => {}
    }
    let (steps, lost) = match replay(&wf, &contents.events) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("rustflow: the event log is damaged, refusing to run: {why}");
            return 3;
        }
    };

    // 6. Cut a torn final line; the log is only ever opened to append.
    let file = match OpenOptions::new().append(true).create(true).mode(0o644).custom_flags(libc::O_NOFOLLOW).open(&log_path) {
        Ok(f) => f,
        Err(e) => return err2(format!("cannot open {}: {e}", log_path.display())),
    };
    let log = Writer::new(file, contents.events.len() as u64 + 1);
    let work_dir = state_dir.join("work");
    let outputs_dir = state_dir.join("outputs");
    let mut engine = Engine {
        base_env: std::env::vars_os()
            .filter(|(k, _)| !k.as_bytes().starts_with(b"ENGINE_"))
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        wf,
        digest,
        state_dir,
        work_dir,
        outputs_dir,
        steps,
        running: Vec::new(),
        log,
        signals,
        lock_fd,
        spawn_pause_until: None,
    };
    match engine.start(&contents, &lost) {
        Ok(()) => {}
        Err(Stop::Signal(sig)) => return 128 + sig,
        Err(Stop::Fatal(msg)) => return engine.fatal(&msg),
    }
    engine.main_loop()
}

enum Stop {
    Signal(i32),
    Fatal(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Fatal(e.to_string())
    }
}

impl Engine {
    /// Steps 6 to 9 of recovery: cut a torn tail, start or resume the log, end the
    /// attempts the log shows running, schedule lost retries, publish missing outputs.
    fn start(&mut self, contents: &log::Contents, lost: &[OpenAttempt]) -> Result<(), Stop> {
        if contents.torn {
            let file_len = fs::metadata(self.state_dir.join(log::LOG_NAME))?.len();
            if file_len > contents.complete_len {
                let fd = self.log.raw_fd();
                if unsafe { libc::ftruncate(fd, contents.complete_len as libc::off_t) } != 0 {
                    return Err(io::Error::last_os_error().into());
                }
                self.log.sync()?;
            }
        }
        // The log's name, and the folders beside it, durable before any event counts.
        for dir in [&self.work_dir, &self.outputs_dir] {
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Stop::Fatal(format!("cannot create {}: {e}", dir.display()))),
            }
        }
        sys::fsync_dir(&self.state_dir)?;

        if contents.events.is_empty() {
            let fields = format!(",\"workflow\":{},\"digest\":\"{}\"", quote(&self.wf.name), self.digest);
            self.log.append("WORKFLOW_STARTED", &fields)?;
        } else {
            self.log.append("WORKFLOW_RESUMED", "")?;
        }

        // 8. Attempts the log shows running: end what is left of them, then record them lost.
        let pgids: Vec<i32> = lost.iter().map(|&(_, _, g)| g).collect();
        self.end_foreign_groups(&pgids)?;
        for &(idx, attempt, _) in lost {
            let fields = format!(",\"step\":{},\"attempt\":{attempt},\"reason\":\"lost\"", quote(&self.wf.steps[idx].id));
            self.log.append("STEP_FAILED", &fields)?;
        }
        // A failure whose retry was never scheduled (a crash between the two events).
        for idx in 0..self.steps.len() {
            if self.steps[idx].retry_unscheduled {
                self.schedule_retry(idx)?;
            }
        }
        // 9. Publish what a crash left unpublished.
        for idx in 0..self.steps.len() {
            if let Phase::Succeeded { attempt } = self.steps[idx].phase {
                self.publish(idx, attempt)?;
            }
        }
        Ok(())
    }

    fn out_path(&self, idx: usize, attempt: u64) -> PathBuf {
        self.work_dir.join(format!("{}.{attempt}.out", work_stem(idx, &self.wf.steps[idx].id)))
    }

    fn stdout_path(&self, idx: usize, attempt: u64) -> PathBuf {
        self.work_dir.join(format!("{}.{attempt}.log", work_stem(idx, &self.wf.steps[idx].id)))
    }

    /// SIGTERM the groups that still have a live process, SIGKILL what is left after the
    /// grace, and wait until none is left (processes of a dead engine: not our children).
    fn end_foreign_groups(&mut self, pgids: &[i32]) -> Result<(), Stop> {
        let mut alive: Vec<i32> = pgids.iter().copied().filter(|&g| sys::group_alive(g)).collect();
        if alive.is_empty() {
            return Ok(());
        }
        for &g in &alive {
            sys::kill_group(g, libc::SIGTERM);
        }
        let t0 = Instant::now();
        let mut killed = false;
        loop {
            alive.retain(|&g| sys::group_alive(g));
            if alive.is_empty() {
                return Ok(());
            }
            if let Some(sig) = self.signals.stop_signal() {
                for &g in &alive {
                    sys::kill_group(g, libc::SIGKILL);
                }
                return Err(Stop::Signal(sig));
            }
            if !killed && t0.elapsed() >= KILL_GRACE {
                for &g in &alive {
                    sys::kill_group(g, libc::SIGKILL);
                }
                killed = true;
            }
            if t0.elapsed() >= Duration::from_secs(10) {
                return Err(Stop::Fatal(format!("process groups {alive:?} survive SIGKILL")));
            }
            self.signals.wait(20);
        }
    }

    fn schedule_retry(&mut self, idx: usize) -> io::Result<()> {
        let st = &self.steps[idx];
        let delay = self.wf.steps[idx].retry.delay(st.failures);
        let attempt = st.max_attempt + 1;
        let fields = format!(
            ",\"step\":{},\"attempt\":{attempt},\"delay_s\":{}",
            quote(&self.wf.steps[idx].id),
            log::number(delay)
        );
        self.log.append("STEP_RETRY_SCHEDULED", &fields)?;
        let st = &mut self.steps[idx];
        st.retry_unscheduled = false;
        st.phase = Phase::Waiting {
            attempt,
            due: Instant::now() + Duration::from_secs_f64(delay.clamp(0.0, 1e9)),
        };
        Ok(())
    }

    /// Link the succeeded attempt's output into outputs/, once: fsync its data first,
    /// never replace an existing outputs/ID, fsync outputs/ after.
    fn publish(&mut self, idx: usize, attempt: u64) -> io::Result<()> {
        let src = self.out_path(idx, attempt);
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_file() => {}
            _ => return Ok(()), // the attempt made no output
        }
        let dst = self.outputs_dir.join(&self.wf.steps[idx].id);
        if fs::symlink_metadata(&dst).is_ok() {
            return Ok(());
        }
        sync_output(&src, &self.work_dir)?;
        match fs::hard_link(&src, &dst) {
            Ok(()) => sys::fsync_dir(&self.outputs_dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => {
                // e.g. an id that is no valid file name: the step still succeeded
                eprintln!("rustflow: cannot publish {}: {e}", dst.display());
                Ok(())
            }
        }
    }

    fn ready(&self, idx: usize) -> bool {
        match self.steps[idx].phase {
            Phase::Pending => self.wf.steps[idx]
                .depends_on
                .iter()
                .all(|&d| matches!(self.steps[d].phase, Phase::Succeeded { .. })),
            Phase::Waiting { due, .. } => Instant::now() >= due,
            _ => false,
        }
    }

    /// Fork the attempt holding, make its STEP_STARTED durable, then let it exec.
    fn start_attempt(&mut self, idx: usize) -> Result<bool, Stop> {
        let st = &self.steps[idx];
        let attempt = match st.phase {
            Phase::Waiting { attempt, .. } => attempt,
            _ => st.max_attempt + 1,
        };
        let step = &self.wf.steps[idx];
        let out = self.out_path(idx, attempt);
        let _ = fs::remove_file(&out); // never there before its attempt starts
        let mut env = self.base_env.clone();
        env.push((b"ENGINE_STEP_ID".to_vec(), step.id.as_bytes().to_vec()));
        env.push((b"ENGINE_ATTEMPT".to_vec(), attempt.to_string().into_bytes()));
        env.push((b"ENGINE_STATE_DIR".to_vec(), self.state_dir.as_os_str().as_bytes().to_vec()));
        env.push((b"ENGINE_OUTPUT".to_vec(), out.as_os_str().as_bytes().to_vec()));
        let mut close_fds = vec![self.lock_fd, self.log.raw_fd()];
        close_fds.extend(self.signals.fds());
        let stdout = self.stdout_path(idx, attempt);
        let spec = SpawnSpec { argv: &step.command, env, stdout_path: &stdout, close_fds };
        let held = match sys::spawn_held(&spec) {
            Ok(h) => h,
            Err(e) => {
                // fork or pipe failed (resources): try again shortly, the step stays ready
                eprintln!("rustflow: cannot spawn step {:?}: {e}; retrying", step.id);
                self.spawn_pause_until = Some(Instant::now() + Duration::from_millis(200));
                return Ok(false);
            }
        };
        let pid = held.pid;
        let fields = format!(
            ",\"step\":{},\"attempt\":{attempt},\"pid\":{pid},\"pgid\":{pid}",
            quote(&step.id)
        );
        if let Err(e) = self.log.append("STEP_STARTED", &fields) {
            held.abandon();
            return Err(e.into());
        }
        let timeout = step.timeout_s;
        if let Err(e) = held.release() {
            // The child is gone before exec: it reaps as a failed attempt.
            eprintln!("rustflow: step {:?} attempt {attempt}: go-ahead failed: {e}", step.id);
        }
        let now = Instant::now();
        self.running.push(Running {
            step: idx,
            attempt,
            pid,
            deadline: timeout.map(|t| now + Duration::from_secs_f64(t.min(1e9))),
            timed_out: false,
            kill_at: None,
        });
        let st = &mut self.steps[idx];
        st.max_attempt = st.max_attempt.max(attempt);
        st.phase = Phase::Running;
        Ok(true)
    }

    /// Record how an attempt ended, and act on it (publish, or schedule a retry).
    fn finish(&mut self, r: Running, exit: Exit) -> Result<(), Stop> {
        let idx = r.step;
        let id = quote(&self.wf.steps[idx].id);
        let attempt = r.attempt;
        if matches!(exit, Exit::Code(0)) && !r.timed_out {
            // The output's data and name durable before the success that vouches for it.
            let out = self.out_path(idx, attempt);
            if fs::symlink_metadata(&out).is_ok_and(|m| m.is_file()) {
                sync_output(&out, &self.work_dir)?;
                sys::fsync_dir(&self.work_dir)?;
            }
            self.log.append("STEP_SUCCEEDED", &format!(",\"step\":{id},\"attempt\":{attempt}"))?;
            self.steps[idx].phase = Phase::Succeeded { attempt };
            self.publish(idx, attempt)?;
            return Ok(());
        }
        let (reason, detail) = match exit {
            Exit::Code(c) => (if r.timed_out { Reason::Timeout } else { Reason::Exit }, format!(",\"exit_code\":{c}")),
            Exit::Signal(s) => (if r.timed_out { Reason::Timeout } else { Reason::Signal }, format!(",\"signal\":{s}")),
        };
        self.log.append(
            "STEP_FAILED",
            &format!(",\"step\":{id},\"attempt\":{attempt},\"reason\":\"{}\"{detail}", reason.as_str()),
        )?;
        let st = &mut self.steps[idx];
        st.failures += 1;
        if st.failures < self.wf.steps[idx].retry.max_attempts {
            self.schedule_retry(idx)?;
        } else {
            st.phase = Phase::Failed;
        }
        Ok(())
    }

    fn reap(&mut self) -> Result<(), Stop> {
        loop {
            let running = &self.running;
            let Some((pid, exit)) = sys::reap_one(|pid| running.iter().any(|r| r.pid == pid)) else {
                return Ok(());
            };
            if let Some(i) = self.running.iter().position(|r| r.pid == pid) {
                let r = self.running.swap_remove(i);
                self.finish(r, exit)?;
            }
        }
    }

    /// Timeouts: SIGTERM the group at the deadline, SIGKILL it after the grace.
    fn enforce_timeouts(&mut self, now: Instant) {
        for r in &mut self.running {
            if !r.timed_out && r.deadline.is_some_and(|d| now >= d) {
                r.timed_out = true;
                sys::kill_group(r.pid, libc::SIGTERM);
                r.kill_at = Some(now + KILL_GRACE);
            } else if r.kill_at.is_some_and(|k| now >= k) {
                sys::kill_group(r.pid, libc::SIGKILL);
                r.kill_at = Some(now + KILL_GRACE);
            }
        }
    }

    fn next_wakeup(&self, now: Instant) -> Duration {
        let mut next = now + MAX_SLEEP;
        for r in &self.running {
            if !r.timed_out {
                if let Some(d) = r.deadline {
                    next = next.min(d);
                }
            }
            if let Some(k) = r.kill_at {
                next = next.min(k);
            }
        }
        for st in &self.steps {
            if let Phase::Waiting { due, .. } = st.phase {
                next = next.min(due);
            }
        }
        if let Some(p) = self.spawn_pause_until {
            next = next.min(p);
        }
        next.saturating_duration_since(now)
    }

    fn main_loop(&mut self) -> i32 {
        loop {
            if let Some(sig) = self.signals.stop_signal() {
                return self.shutdown(sig);
            }
            if let Err(stop) = self.step_once() {
                return match stop {
                    Stop::Signal(sig) => self.shutdown(sig),
                    Stop::Fatal(msg) => self.fatal(&msg),
                };
            }
            let waiting = self.steps.iter().any(|s| matches!(s.phase, Phase::Waiting { .. }));
            if self.running.is_empty() && !waiting && self.spawn_pause_until.is_none() {
                // Nothing runs, nothing is due, nothing could start: the end.
                let ok = self.steps.iter().all(|s| matches!(s.phase, Phase::Succeeded { .. }));
                let ty = if ok { "WORKFLOW_SUCCEEDED" } else { "WORKFLOW_FAILED" };
                if let Err(e) = self.log.append(ty, "") {
                    return self.fatal(&e.to_string());
                }
                return if ok { 0 } else { 1 };
            }
            let now = Instant::now();
            let sleep = self.next_wakeup(now);
            // poll's timeout in whole ms, rounded up so a due time is never missed early
            let ms = sleep.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            self.signals.wait(ms);
        }
    }

    fn step_once(&mut self) -> Result<(), Stop> {
        self.reap()?;
        let now = Instant::now();
        self.enforce_timeouts(now);
        if self.spawn_pause_until.is_some_and(|p| now < p) {
            return Ok(());
        }
        self.spawn_pause_until = None;
        for idx in 0..self.steps.len() {
            if self.running.len() >= self.wf.max_parallel {
                break;
            }
            if let Some(sig) = self.signals.stop_signal() {
                return Err(Stop::Signal(sig));
            }
            if self.ready(idx) && !self.start_attempt(idx)? {
                break;
            }
        }
        Ok(())
    }

    /// SIGTERM or SIGINT: start nothing, end every running attempt's group (SIGTERM, then
    /// SIGKILL after the grace), write no end event, exit 128 + signal. The attempts
    /// stay running in the log; the next run records them as lost.
    fn shutdown(&mut self, sig: i32) -> i32 {
        let groups: Vec<i32> = self.running.iter().map(|r| r.pid).collect();
        for &g in &groups {
            sys::kill_group(g, libc::SIGTERM);
        }
        let t0 = Instant::now();
        let mut killed = false;
        loop {
            while let Some((pid, _)) = sys::reap_one(|pid| groups.contains(&pid)) {
                self.running.retain(|r| r.pid != pid);
            }
            let any_alive = groups.iter().any(|&g| sys::group_alive(g));
            if self.running.is_empty() && !any_alive {
                break;
            }
            if !killed && t0.elapsed() >= KILL_GRACE {
                for &g in &groups {
                    sys::kill_group(g, libc::SIGKILL);
                }
                killed = true;
            }
            if t0.elapsed() >= Duration::from_secs(4) {
                break;
            }
            self.signals.wait(20);
        }
        eprintln!("rustflow: stopped by signal {sig}; a later run resumes");
        128 + sig
    }

    /// An internal error: end every attempt's group and exit outside 0-4.
    fn fatal(&mut self, msg: &str) -> i32 {
        eprintln!("rustflow: internal error: {msg}");
        for r in &self.running {
            sys::kill_group(r.pid, libc::SIGKILL);
        }
        INTERNAL
    }
}
