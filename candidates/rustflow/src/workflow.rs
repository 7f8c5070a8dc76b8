//! The workflow file: strict parsing and validation (TASK.md, "Workflow file").
//!
//! Every problem is reported as `path: what is wrong`, for example
//! `steps[1].retry.max_attempts: must be an integer >= 1`.

use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Retry {
    pub max_attempts: u64,
    pub backoff_s: f64,
    pub multiplier: f64,
    pub max_backoff_s: f64,
}

impl Retry {
    /// The delay after the n-th failed attempt (n >= 1):
    /// min(backoff_s * multiplier ** (n - 1), max_backoff_s).
    pub fn delay(&self, n: u64) -> f64 {
        if self.backoff_s == 0.0 || self.max_backoff_s == 0.0 {
            return 0.0;
        }
        let exp = n.saturating_sub(1).min(1 << 20) as f64;
        let d = self.backoff_s * self.multiplier.powf(exp);
        if d.is_finite() {
            d.min(self.max_backoff_s)
        } else {
            self.max_backoff_s
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub command: Vec<String>,
    /// Indexes into `Workflow::steps`, without repeats.
    pub depends_on: Vec<usize>,
    pub timeout_s: Option<f64>,
    pub retry: Retry,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    pub max_parallel: usize,
    pub steps: Vec<Step>,
}

impl Workflow {
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

type Res<T> = Result<T, String>;

fn object<'a>(v: &'a Value, path: &str) -> Res<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| format!("{path}: must be a JSON object"))
}

fn known_keys(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Res<()> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            return Err(format!("{at}: unknown key (allowed: {})", allowed.join(", ")));
        }
    }
    Ok(())
}

fn string(v: &Value, path: &str) -> Res<String> {
    v.as_str().map(str::to_owned).ok_or_else(|| format!("{path}: must be a string"))
}

/// A JSON integer written without fraction or exponent, at least `min`.
fn int_at_least(v: &Value, min: u64, path: &str) -> Res<u64> {
    let err = || format!("{path}: must be an integer >= {min}");
    match v {
        // as_u64 is None for a float (2.0, 1e3) and for a negative integer
        Value::Number(n) => n.as_u64().filter(|x| *x >= min).ok_or_else(err),
        _ => Err(err()),
    }
}

/// A JSON number (integer or finite float; never a boolean).
fn number(v: &Value, path: &str, what: &str, ok: impl Fn(f64) -> bool) -> Res<f64> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && ok(x) => Ok(x),
            _ => Err(format!("{path}: must be a number {what}")),
        },
        _ => Err(format!("{path}: must be a number {what}")),
    }
}

fn string_list(v: &Value, path: &str) -> Res<Vec<String>> {
    let items = v.as_array().ok_or_else(|| format!("{path}: must be a list of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(item, &format!("{path}[{i}]")))
        .collect()
}

fn retry(v: &Value, path: &str) -> Res<Retry> {
    let obj = object(v, path)?;
    known_keys(obj, &["max_attempts", "backoff_s", "multiplier", "max_backoff_s"], path)?;
    let mut r = Retry { max_attempts: 1, backoff_s: 0.0, multiplier: 2.0, max_backoff_s: 60.0 };
    if let Some(x) = obj.get("max_attempts") {
        r.max_attempts = int_at_least(x, 1, &format!("{path}.max_attempts"))?;
    }
    if let Some(x) = obj.get("backoff_s") {
        r.backoff_s = number(x, &format!("{path}.backoff_s"), ">= 0", |f| f >= 0.0)?;
    }
    if let Some(x) = obj.get("multiplier") {
        r.multiplier = number(x, &format!("{path}.multiplier"), ">= 1", |f| f >= 1.0)?;
    }
    if let Some(x) = obj.get("max_backoff_s") {
        r.max_backoff_s = number(x, &format!("{path}.max_backoff_s"), ">= 0", |f| f >= 0.0)?;
    }
    Ok(r)
}

/// Parse and validate a whole workflow file; nothing else is looked at before this passes.
pub fn parse(bytes: &[u8]) -> Res<Workflow> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("workflow file: not UTF-8: {e}"))?;
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("workflow file: not valid JSON: {e}"))?;
    let top = object(&doc, "workflow")?;
    known_keys(top, &["name", "max_parallel", "steps"], "")?;
    let name = string(top.get("name").ok_or("name: missing required key")?, "name")?;
    let max_parallel = match top.get("max_parallel") {
        Some(v) => int_at_least(v, 1, "max_parallel")?,
        None => 4,
    };
    let raw_steps = top
        .get("steps")
        .ok_or("steps: missing required key")?
        .as_array()
        .ok_or("steps: must be a list of step objects")?;

    // Each step on its own; depends_on is kept by name until every id is known.
    let mut steps = Vec::with_capacity(raw_steps.len());
    let mut dep_names = Vec::with_capacity(raw_steps.len());
    for (i, raw) in raw_steps.iter().enumerate() {
        let path = format!("steps[{i}]");
        let obj = object(raw, &path)?;
        known_keys(obj, &["id", "command", "depends_on", "timeout_s", "retry"], &path)?;
        let id = string(obj.get("id").ok_or(format!("{path}.id: missing required key"))?,
                        &format!("{path}.id"))?;
        let command = string_list(
            obj.get("command").ok_or(format!("{path}.command: missing required key"))?,
            &format!("{path}.command"),
        )?;
        if command.is_empty() {
            return Err(format!("{path}.command: must not be empty"));
        }
        let deps = match obj.get("depends_on") {
            Some(v) => string_list(v, &format!("{path}.depends_on"))?,
            None => Vec::new(),
        };
        let timeout_s = match obj.get("timeout_s") {
            Some(v) => Some(number(v, &format!("{path}.timeout_s"), "> 0", |f| f > 0.0)?),
            None => None,
        };
        let retry = match obj.get("retry") {
            Some(v) => retry(v, &format!("{path}.retry"))?,
            None => Retry { max_attempts: 1, backoff_s: 0.0, multiplier: 2.0, max_backoff_s: 60.0 },
        };
        steps.push(Step { id, command, depends_on: Vec::new(), timeout_s, retry });
        dep_names.push(deps);
    }

    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        if let Some(first) = index.insert(s.id.as_str(), i) {
            return Err(format!("steps[{i}].id: duplicate step id {:?} (also steps[{first}])", s.id));
        }
    }
    let mut resolved = Vec::with_capacity(steps.len());
    for (i, names) in dep_names.iter().enumerate() {
        let mut deps: Vec<usize> = Vec::new();
        for (j, dep) in names.iter().enumerate() {
            let k = *index.get(dep.as_str()).ok_or_else(|| {
                format!("steps[{i}].depends_on[{j}]: {dep:?} names no step of the workflow")
            })?;
            if !deps.contains(&k) {
                deps.push(k);
            }
        }
        resolved.push(deps);
    }
    for (s, deps) in steps.iter_mut().zip(resolved) {
        s.depends_on = deps;
    }
    if let Some(cycle) = find_cycle(&steps) {
        let names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
        return Err(format!("steps: dependency cycle: {}", names.join(" -> ")));
    }
    Ok(Workflow { name, max_parallel: max_parallel.min(usize::MAX as u64) as usize, steps })
}

/// A dependency cycle as a closed path of step indexes (first == last), if any.
fn find_cycle(steps: &[Step]) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the current path, 2 = done. Iterative DFS: no recursion limit.
    let mut mark = vec![0u8; steps.len()];
    for root in 0..steps.len() {
        if mark[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = steps[node].depends_on.get(*next) {
                *next += 1;
                match mark[dep] {
                    0 => {
                        mark[dep] = 1;
                        stack.push((dep, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        cycle.push(dep);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                mark[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn err(text: &str) -> String {
        parse(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn valid_defaults() {
        let w = parse(br#"{"name": "w", "steps": [{"id": "a", "command": ["true"]},
            {"id": "b", "command": ["x"], "depends_on": ["a", "a"], "timeout_s": 1,
             "retry": {"backoff_s": 0.5}}]}"#)
        .unwrap();
        assert_eq!(w.max_parallel, 4);
        assert_eq!(w.steps[1].depends_on, vec![0]);
        assert_eq!(w.steps[1].retry.max_attempts, 1);
        assert_eq!(w.steps[1].retry.multiplier, 2.0);
        assert_eq!(w.steps[1].retry.max_backoff_s, 60.0);
        assert!(parse(br#"{"name": "w", "steps": []}"#).unwrap().steps.is_empty());
    }

    #[test]
    fn invalid_files() {
        assert!(err(r#"{"name": "w", "steps": [ "#).contains("JSON"));
        assert!(err(r#"{"name": "w", "max_parallel": NaN, "steps": []}"#).contains("JSON"));
        assert!(err(r#"{"name": "w", "max_parallel": 2.0, "steps": []}"#).contains("max_parallel"));
        assert!(err(r#"{"name": "w", "max_parallel": true, "steps": []}"#).contains("max_parallel"));
        assert!(err(r#"{"name": "w", "max_parallel": "2", "steps": []}"#).contains("max_parallel"));
        assert!(err(r#"{"name": "w", "max_parallel": 0, "steps": []}"#).contains("max_parallel"));
        assert!(err(r#"{"steps": []}"#).contains("name"));
        assert!(err(r#"{"name": "w"}"#).contains("steps"));
        assert!(err(r#"[]"#).contains("object"));
        assert!(err(r#"{"name": "w", "steps": [{"command": ["true"]}]}"#).contains("steps[0].id"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": "true"}]}"#).contains("command"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": []}]}"#).contains("empty"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "retries": 3}]}"#)
            .contains("retries"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "timeout_s": 0}]}"#)
            .contains("timeout_s"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "retry": {"max_attempts": 0}}]}"#)
            .contains("steps[0].retry.max_attempts: must be an integer >= 1"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "retry": {"multiplier": 0.5}}]}"#)
            .contains("multiplier"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "retry": {"extra": 1}}]}"#)
            .contains("extra"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "retry": 3}]}"#)
            .contains("retry"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"]}, {"id": "a", "command": ["x"]}]}"#)
            .contains("duplicate"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "depends_on": ["ghost"]}]}"#)
            .contains("ghost"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "depends_on": ["a"]}]}"#)
            .contains("cycle"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "depends_on": ["b"]},
                                                 {"id": "b", "command": ["x"], "depends_on": ["a"]}]}"#)
            .contains("cycle"));
        assert!(err(r#"{"name": "w", "steps": [{"id": "a", "command": ["x"], "depends_on": [1]}]}"#)
            .contains("depends_on"));
        assert!(parse(b"{\"name\": \"\xff\", \"steps\": []}").is_err());
    }

    #[test]
    fn backoff_formula() {
        let w = parse(br#"{"name": "w", "steps": [{"id": "a", "command": ["x"],
            "retry": {"max_attempts": 7, "backoff_s": 1, "multiplier": 2, "max_backoff_s": 10}}]}"#)
        .unwrap();
        let r = &w.steps[0].retry;
        let delays: Vec<f64> = (1..=6).map(|n| r.delay(n)).collect();
        assert_eq!(delays, vec![1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
    }
}
