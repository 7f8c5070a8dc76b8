//! rustflow: an event-sourced workflow engine (harness TASK.md, contract v1.1).
//!
//!     rustflow run WORKFLOW_JSON STATE_DIR
//!     rustflow status STATE_DIR

mod engine;
mod log;
mod sha256;
mod status;
mod sys;
mod workflow;

use std::path::Path;

const USAGE: &str = "usage: rustflow run WORKFLOW_JSON STATE_DIR\n       rustflow status STATE_DIR";

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let words: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    let code = match words.first().copied().flatten() {
        Some("run") if args.len() == 3 => engine::run(Path::new(&args[1]), Path::new(&args[2])),
        Some("status") if args.len() == 2 => status::status(Path::new(&args[1])),
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
