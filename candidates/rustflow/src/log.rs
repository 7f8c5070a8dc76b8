//! The event log `STATE_DIR/events.jsonl` (TASK.md, "The event log"): reading it back
//! (complete lines, a torn final line, damage) and appending to it durably.

use serde_json::{Map, Value};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;

pub const LOG_NAME: &str = "events.jsonl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Exit,
    Timeout,
    Signal,
    Lost,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exit => "exit",
            Reason::Timeout => "timeout",
            Reason::Signal => "signal",
            Reason::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    WorkflowStarted { digest: String },
    WorkflowResumed,
    StepStarted { step: String, attempt: u64, pgid: i32 },
    StepSucceeded { step: String, attempt: u64 },
    StepFailed { step: String, attempt: u64, reason: Reason },
    StepRetryScheduled { step: String, attempt: u64, delay_s: f64 },
    WorkflowSucceeded,
    WorkflowFailed,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub ts: f64,
    pub kind: Kind,
}

impl Event {
    pub fn step(&self) -> Option<&str> {
        match &self.kind {
            Kind::StepStarted { step, .. }
            | Kind::StepSucceeded { step, .. }
            | Kind::StepFailed { step, .. }
            | Kind::StepRetryScheduled { step, .. } => Some(step),
            _ => None,
        }
    }
    pub fn is_end(&self) -> bool {
        matches!(self.kind, Kind::WorkflowSucceeded | Kind::WorkflowFailed)
    }
}

/// What a log holds: its complete events, and where they end.
#[derive(Debug)]
pub struct Contents {
    pub events: Vec<Event>,
    /// Bytes of the complete lines; a torn final line starts here.
    pub complete_len: u64,
    /// A torn final line follows the complete ones.
    pub torn: bool,
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    obj.get(key).ok_or_else(|| format!("missing field {key:?}"))
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    field(obj, key)?.as_str().map(str::to_owned).ok_or_else(|| format!("{key:?} is not a string"))
}

fn uint_field(obj: &Map<String, Value>, key: &str, min: u64) -> Result<u64, String> {
    field(obj, key)?
        .as_u64()
        .filter(|x| *x >= min)
        .ok_or_else(|| format!("{key:?} is not an integer >= {min}"))
}

fn num_field(obj: &Map<String, Value>, key: &str) -> Result<f64, String> {
    match field(obj, key)? {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{key:?} is not a number")),
        _ => Err(format!("{key:?} is not a number")),
    }
}

fn opt_int(obj: &Map<String, Value>, key: &str) -> Result<(), String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        Some(_) => Err(format!("{key:?} is not an integer")),
    }
}

/// One complete line, as an event with the expected `seq`; Err says why it is damage.
fn parse_event(obj: &Map<String, Value>, expected_seq: u64) -> Result<Event, String> {
    let seq = field(obj, "seq")?.as_u64().ok_or("\"seq\" is not an integer")?;
    if seq != expected_seq {
        return Err(format!("seq {seq} where {expected_seq} was expected"));
    }
    let ty = str_field(obj, "type")?;
    let ts = num_field(obj, "ts")?;
    let kind = match ty.as_str() {
        "WORKFLOW_STARTED" => {
            str_field(obj, "workflow")?;
            Kind::WorkflowStarted { digest: str_field(obj, "digest")? }
        }
        "WORKFLOW_RESUMED" => Kind::WorkflowResumed,
        "WORKFLOW_SUCCEEDED" => Kind::WorkflowSucceeded,
        "WORKFLOW_FAILED" => Kind::WorkflowFailed,
        "STEP_STARTED" => {
            uint_field(obj, "pid", 1)?;
            let pgid = uint_field(obj, "pgid", 1)?;
            Kind::StepStarted {
                step: str_field(obj, "step")?,
                attempt: uint_field(obj, "attempt", 1)?,
                pgid: i32::try_from(pgid).map_err(|_| "\"pgid\" is out of range")?,
            }
        }
        "STEP_SUCCEEDED" => Kind::StepSucceeded {
            step: str_field(obj, "step")?,
            attempt: uint_field(obj, "attempt", 1)?,
        },
        "STEP_FAILED" => {
            let reason = match str_field(obj, "reason")?.as_str() {
                "exit" => Reason::Exit,
                "timeout" => Reason::Timeout,
                "signal" => Reason::Signal,
                "lost" => Reason::Lost,
                other => return Err(format!("unknown reason {other:?}")),
            };
            opt_int(obj, "exit_code")?;
            opt_int(obj, "signal")?;
            Kind::StepFailed {
                step: str_field(obj, "step")?,
                attempt: uint_field(obj, "attempt", 1)?,
                reason,
            }
        }
        "STEP_RETRY_SCHEDULED" => {
            let delay_s = num_field(obj, "delay_s")?;
            if delay_s < 0.0 {
                return Err("\"delay_s\" is negative".into());
            }
            Kind::StepRetryScheduled {
                step: str_field(obj, "step")?,
                attempt: uint_field(obj, "attempt", 1)?,
                delay_s,
            }
        }
        other => return Err(format!("unknown event type {other:?}")),
    };
    Ok(Event { ts, kind })
}

fn json_object(line: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(obj)) => Some(obj),
        _ => None,
    }
}

/// Read a whole log. Err is damage (exit 3), with a message naming the line.
///
/// The last line is torn when it has no trailing newline or is not valid JSON; it is
/// left out. Any earlier line that is not a well-formed event with the next `seq` is
/// damage, and so is a log whose events are out of place (no WORKFLOW_STARTED first,
/// anything after the end event).
pub fn parse_log(bytes: &[u8]) -> Result<Contents, String> {
    let mut events = Vec::new();
    let mut complete_len = 0u64;
    let mut torn = false;
    let mut start = 0usize;
    let mut lineno = 0u64;
    while start < bytes.len() {
        lineno += 1;
        let (line, end, has_newline) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[start..start + i], start + i + 1, true),
            None => (&bytes[start..], bytes.len(), false),
        };
        let last = end == bytes.len();
        if last && !has_newline {
            torn = true;
            break;
        }
        let obj = match json_object(line) {
            Some(obj) => obj,
            None if last && serde_json::from_slice::<Value>(line).is_err() => {
                torn = true;
                break;
            }
            None => return Err(format!("line {lineno} is not a JSON object")),
        };
        let event = parse_event(&obj, events.len() as u64 + 1)
            .map_err(|why| format!("line {lineno}: {why}"))?;
        let first = events.is_empty();
        if first != matches!(event.kind, Kind::WorkflowStarted { .. }) {
            return Err(format!("line {lineno}: WORKFLOW_STARTED must be the first event, once"));
        }
        if events.last().is_some_and(Event::is_end) {
            return Err(format!("line {lineno}: an event after the workflow's end event"));
        }
        events.push(event);
        complete_len = end as u64;
        start = end;
    }
    Ok(Contents { events, complete_len, torn })
}

/// Wall-clock unix seconds.
pub fn now_ts() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A JSON number for an f64 (always finite here).
pub fn number(x: f64) -> String {
    if x.is_finite() {
        serde_json::to_string(&x).unwrap_or_else(|_| "0".into())
    } else {
        "0".into()
    }
}

/// Appends events: one `write` of the whole line on an O_APPEND descriptor, then fsync,
/// before the caller may act on it.
pub struct Writer {
    file: File,
    next_seq: u64,
}

impl Writer {
    pub fn new(file: File, next_seq: u64) -> Writer {
        Writer { file, next_seq }
    }

    /// Append one event of `ty` with `fields` (`"key":value` pairs, comma-led); returns
    /// the event's `ts` once the line is durable.
    pub fn append(&mut self, ty: &str, fields: &str) -> std::io::Result<f64> {
        let ts = now_ts();
        let line = format!(
            "{{\"seq\":{},\"type\":\"{}\",\"ts\":{}{}}}\n",
            self.next_seq,
            ty,
            number(ts),
            fields
        );
        loop {
            match self.file.write(line.as_bytes()) {
                Ok(n) if n == line.len() => break,
                Ok(n) => {
                    // A short write would split the event; nothing sane can follow.
                    return Err(std::io::Error::other(format!(
                        "short write to the log ({n} of {} bytes)",
                        line.len()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.sync()?;
        self.next_seq += 1;
        Ok(ts)
    }

    pub fn sync(&self) -> std::io::Result<()> {
        loop {
            // fsync, not fdatasync: the size change is metadata the log needs.
            if unsafe { libc::fsync(self.file.as_raw_fd()) } == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: &str = "{\"seq\":1,\"type\":\"WORKFLOW_STARTED\",\"ts\":1.5,\"workflow\":\"w\",\"digest\":\"ab\"}\n";
    const L2: &str = "{\"seq\":2,\"type\":\"STEP_STARTED\",\"ts\":2,\"step\":\"a\",\"attempt\":1,\"pid\":10,\"pgid\":10}\n";
    const L3: &str = "{\"seq\":3,\"type\":\"STEP_FAILED\",\"ts\":3,\"step\":\"a\",\"attempt\":1,\"reason\":\"lost\"}\n";

    #[test]
    fn complete_and_torn() {
        let full = format!("{L1}{L2}{L3}");
        let c = parse_log(full.as_bytes()).unwrap();
        assert_eq!((c.events.len(), c.torn, c.complete_len), (3, false, full.len() as u64));
        let cut = format!("{L1}{L2}{{\"seq\":3,\"ty");
        let c = parse_log(cut.as_bytes()).unwrap();
        assert_eq!((c.events.len(), c.torn), (2, true));
        assert_eq!(c.complete_len as usize, L1.len() + L2.len());
        // a whole event without its newline is torn too
        let c = parse_log(format!("{L1}{}", L2.trim_end()).as_bytes()).unwrap();
        assert_eq!((c.events.len(), c.torn), (1, true));
        // zero-filled tail
        let c = parse_log(format!("{L1}{{\"seq\":2,\0\0\0\0").as_bytes()).unwrap();
        assert_eq!((c.events.len(), c.torn), (1, true));
        // invalid JSON with a newline, last: torn
        let c = parse_log(format!("{L1}{{\"seq\":2,\n").as_bytes()).unwrap();
        assert_eq!((c.events.len(), c.torn), (1, true));
        let c = parse_log(b"").unwrap();
        assert_eq!((c.events.len(), c.torn), (0, false));
        let c = parse_log(b"{\"seq\":1").unwrap();
        assert_eq!((c.events.len(), c.torn), (0, true));
    }

    #[test]
    fn damage() {
        assert!(parse_log(format!("{L1}garbage\n{L3}").as_bytes()).is_err());
        assert!(parse_log(format!("{L1}{L3}").as_bytes()).is_err()); // seq gap
        assert!(parse_log(format!("{L1}{L2}{L2}").as_bytes()).is_err()); // seq repeat
        assert!(parse_log(format!("{L2}").as_bytes()).is_err());
        assert!(parse_log(format!("{L1}[1]\n").as_bytes()).is_err()); // last, JSON, no object
        assert!(parse_log(format!("{L1}\n{L2}").as_bytes()).is_err()); // empty line inside
    }
}
