//! `status STATE_DIR`: the state rebuilt from the log's complete lines, changing nothing.

use crate::log::{self, Event, Kind, Reason};
use std::path::Path;

/// The status object for these events, as one line of JSON.
pub fn render(events: &[Event]) -> String {
    let workflow = match events.last() {
        None => "pending",
        Some(e) if e.kind == Kind::WorkflowSucceeded => "succeeded",
        Some(e) if e.kind == Kind::WorkflowFailed => "failed",
        Some(_) => "running",
    };
    // (step, state, attempts), in the order the log first names them
    let mut steps: Vec<(String, &str, u64)> = Vec::new();
    for e in events {
        let Some(id) = e.step() else { continue };
        let i = match steps.iter().position(|(s, _, _)| s == id) {
            Some(i) => i,
            None => {
                steps.push((id.to_owned(), "pending", 0));
                steps.len() - 1
            }
        };
        let entry = &mut steps[i];
        entry.1 = match &e.kind {
            Kind::StepStarted { .. } => {
                entry.2 += 1;
                "running"
            }
            Kind::StepSucceeded { .. } => "succeeded",
            Kind::StepRetryScheduled { .. } => "retry_wait",
            Kind::StepFailed { reason: Reason::Lost, .. } => "pending",
            Kind::StepFailed { .. } => "failed",
            _ => entry.1,
        };
    }
    let body: Vec<String> = steps
        .iter()
        .map(|(id, state, attempts)| {
            format!("{}: {{\"state\": \"{state}\", \"attempts\": {attempts}}}", log::quote(id))
        })
        .collect();
    format!(
        "{{\"workflow\": \"{workflow}\", \"last_seq\": {}, \"steps\": {{{}}}}}",
        events.len(),
        body.join(", ")
    )
}

pub fn status(state_dir: &Path) -> i32 {
    match std::fs::metadata(state_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            eprintln!("rustflow: {}: not a directory", state_dir.display());
            return 2;
        }
        Err(e) => {
            eprintln!("rustflow: {}: {e}", state_dir.display());
            return 2;
        }
    }
    let path = state_dir.join(log::LOG_NAME);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            eprintln!("rustflow: {}: not a regular file", path.display());
            return 2;
        }
        Err(e) => {
            eprintln!("rustflow: {}: no event log ({e})", path.display());
            return 2;
        }
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rustflow: cannot read {}: {e}", path.display());
            return 2;
        }
    };
    match log::parse_log(&bytes) {
        Ok(contents) => {
            println!("{}", render(&contents.events));
            0
        }
        Err(why) => {
            eprintln!("rustflow: the event log is damaged: {why}");
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::log::parse_log;

    // TASK.md's example log
    const DEMO: &str = r#"{"seq":1,"type":"WORKFLOW_STARTED","ts":1764000000.01,"workflow":"demo","digest":"dcc0b1229a30e1f44816a89567c801064a8d96d8ea8474cb2e5963050b3962da"}
{"seq":2,"type":"STEP_STARTED","ts":1764000000.02,"step":"fetch","attempt":1,"pid":4100,"pgid":4100}
{"seq":3,"type":"STEP_SUCCEEDED","ts":1764000000.90,"step":"fetch","attempt":1}
{"seq":4,"type":"STEP_STARTED","ts":1764000000.91,"step":"parse","attempt":1,"pid":4102,"pgid":4102}
{"seq":5,"type":"STEP_FAILED","ts":1764000001.30,"step":"parse","attempt":1,"reason":"exit","exit_code":1}
{"seq":6,"type":"STEP_RETRY_SCHEDULED","ts":1764000001.30,"step":"parse","attempt":2,"delay_s":1.0}
{"seq":7,"type":"STEP_STARTED","ts":1764000002.31,"step":"parse","attempt":2,"pid":4107,"pgid":4107}
{"seq":8,"type":"WORKFLOW_RESUMED","ts":1764000010.00}
{"seq":9,"type":"STEP_FAILED","ts":1764000010.05,"step":"parse","attempt":2,"reason":"lost"}
{"seq":10,"type":"STEP_STARTED","ts":1764000010.06,"step":"parse","attempt":3,"pid":5200,"pgid":5200}
{"seq":11,"type":"STEP_SUCCEEDED","ts":1764000010.50,"step":"parse","attempt":3}
{"seq":12,"type":"WORKFLOW_SUCCEEDED","ts":1764000010.51}
"#;

    fn status_after(lines: usize, tail: &str) -> String {
        let text: String = DEMO.lines().take(lines).map(|l| format!("{l}\n")).collect();
        render(&parse_log(format!("{text}{tail}").as_bytes()).unwrap().events)
    }

    #[test]
    fn task_examples() {
        assert_eq!(
            status_after(6, ""),
            r#"{"workflow": "running", "last_seq": 6, "steps": {"fetch": {"state": "succeeded", "attempts": 1}, "parse": {"state": "retry_wait", "attempts": 1}}}"#
        );
        assert_eq!(
            status_after(9, "{\"seq\":10,\"ty"),
            r#"{"workflow": "running", "last_seq": 9, "steps": {"fetch": {"state": "succeeded", "attempts": 1}, "parse": {"state": "pending", "attempts": 2}}}"#
        );
        assert_eq!(
            status_after(12, "{\"seq\":13,\"ty"),
            r#"{"workflow": "succeeded", "last_seq": 12, "steps": {"fetch": {"state": "succeeded", "attempts": 1}, "parse": {"state": "succeeded", "attempts": 3}}}"#
        );
        assert_eq!(status_after(0, "{\"seq\""), r#"{"workflow": "pending", "last_seq": 0, "steps": {}}"#);
    }
}
