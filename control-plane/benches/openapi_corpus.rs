//! Import quality and cost on real OpenAPI documents (a benchmark, not a test: run it with
//! `scripts/openapi-corpus.sh`, which fetches the corpus first).
//!
//! Every document runs in a child process of this binary, so a document that hangs is killed
//! at the time bound and reported as a timeout, one that crashes is reported as a crash, and
//! each document's peak memory (`VmHWM`) is its own. For each document the child reads it as
//! the import endpoint does (`openapi::document::read`), validates every tool as the store
//! would, then serves the tools from a data plane runtime and calls each once in the sandbox:
//! arguments sampled from the `inputSchema` by the data plane's own sample generator, checked
//! by the data plane's compiled validator, answered by its `tools/call` path.
//!
//! Targets: a file or a directory (searched for `*.json`), as arguments or in
//! `MCPGW_OPENAPI_CORPUS` (several separated like `PATH`); `target/openapi-corpus` without
//! either. `MCPGW_OPENAPI_CORPUS_TIMEOUT` bounds one document (seconds, default 60),
//! `MCPGW_OPENAPI_CORPUS_JOBS` sets how many documents run at once (default: the cores).
//! A document over the import's operation limit is refused, as the import refuses it; with
//! `MCPGW_OPENAPI_CORPUS_PARTS=1` its tools are also made from consecutive parts of its paths
//! (slow on the largest documents, and cut short at the time bound, so off by default to
//! keep the figures the same from run to run).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcpgw_control_plane::openapi::document::{self, Include, MAX_OPERATIONS};
use mcpgw_data_plane::backend::{Backend, sample};
use mcpgw_data_plane::config::LimitDefaults;
use mcpgw_data_plane::cpu::CpuPool;
use mcpgw_data_plane::limits::Limiters;
use mcpgw_data_plane::mcp::tools::{self, CallError};
use mcpgw_data_plane::mcp::{self, Ctx};
use mcpgw_data_plane::metrics::Metrics;
use mcpgw_data_plane::protocol::version::Version;
use mcpgw_data_plane::state::{BuildError, IntegrationRuntime, SnapshotStore};
use mcpgw_shared::model::{IntegrationKey, IntegrationSnapshot, Limits, ToolDef, ToolsCarried};
use serde_json::{Map, Value, json};

const CHILD_FLAG: &str = "--one";
/// How long the child may spend on optional work (the parts of an oversized document, the
/// sandbox calls) before it stops it and answers with what it has; set by the driver to a
/// share of the hard time bound, so an oversized document still reports why it was refused.
const BUDGET_ENV: &str = "MCPGW_OPENAPI_CORPUS_BUDGET_MS";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Examples kept per failure cause in the report.
const EXAMPLES: usize = 3;
/// Targets of the report (the figures the import is held to).
const TARGET_ERROR_FREE: f64 = 98.0;
const TARGET_GITHUB_SECONDS: f64 = 3.0;
const TARGET_GITHUB_MIB: f64 = 300.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        let Some(path) = args.get(i + 1) else {
            eprintln!("{CHILD_FLAG} needs a document");
            std::process::exit(2);
        };
        let budget = Duration::from_millis(env_number(BUDGET_ENV, u64::MAX / 2));
        println!("{}", one(Path::new(path), Instant::now() + budget));
        return;
    }
    // `cargo bench` adds `--bench` (and forwards any other flag it is given): only the
    // non-flag arguments are targets.
    let mut targets: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if targets.is_empty()
        && let Some(env) = std::env::var_os("MCPGW_OPENAPI_CORPUS")
    {
        targets = std::env::split_paths(&env).collect();
    }
    // `cargo bench` runs this from the package's directory: a relative path is taken from the
    // workspace root when it names nothing here.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if targets.is_empty() {
        targets.push(workspace.join("target/openapi-corpus"));
    }
    for t in &mut targets {
        if t.is_relative() && !t.exists() && workspace.join(&*t).exists() {
            *t = workspace.join(&*t);
        }
    }
    let documents = collect(&targets);
    if documents.is_empty() {
        eprintln!(
            "no *.json documents under {targets:?}: run scripts/openapi-corpus.sh, or name a directory or file"
        );
        std::process::exit(2);
    }
    let timeout = Duration::from_secs(env_number("MCPGW_OPENAPI_CORPUS_TIMEOUT", 60));
    let jobs = env_number(
        "MCPGW_OPENAPI_CORPUS_JOBS",
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) as u64,
    )
    .max(1) as usize;
    let started = Instant::now();
    let results = run_all(&documents, timeout, jobs);
    report(&results, started.elapsed(), timeout);
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every `*.json` under the targets, each with the name it is reported under (its path
/// below the target it was found in), sorted so runs compare line by line.
fn collect(targets: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for target in targets {
        if target.is_file() {
            let name = target
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            out.push((name, target.clone()));
            continue;
        }
        let mut stack = vec![target.clone()];
        let mut found = Vec::new();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let name = path
                        .strip_prefix(target)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned();
                    found.push((name, path));
                }
            }
        }
        found.sort();
        out.extend(found);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The driver: one child per document, bounded in time.

/// What became of one document, as the driver saw it.
struct Outcome {
    name: String,
    /// The child's report, when it finished.
    report: Option<Value>,
    /// Why there is no report (timeout, crash).
    lost: Option<(String, String)>,
    wall: Duration,
}

fn run_all(documents: &[(String, PathBuf)], timeout: Duration, jobs: usize) -> Vec<Outcome> {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::with_capacity(documents.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.min(documents.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, path)) = documents.get(i) else {
                        break;
                    };
                    let outcome = run_child(&exe, name, path, timeout);
                    let mut all = results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    all.push(outcome);
                    if all.len().is_multiple_of(100) {
                        eprintln!("… {}/{} documents", all.len(), documents.len());
                    }
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    results
}

fn run_child(exe: &Path, name: &str, path: &Path, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let lost = |cause: &str, message: String| Outcome {
        name: name.to_owned(),
        report: None,
        lost: Some((cause.to_owned(), message)),
        wall: started.elapsed(),
    };
    let mut child = match Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(path)
        .env(BUDGET_ENV, (timeout.as_millis() * 3 / 4).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return lost("crash", format!("could not start: {e}")),
    };
    // Drained while the child runs, so a full pipe never stalls it.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return lost("crash", format!("could not wait: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    // The child answers once the import has spoken and again at the end: a document cut off
    // later (its parts, its sandbox calls) still reports what the import said of it.
    let last = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    if timed_out {
        return match last {
            Some(report) => Outcome {
                name: name.to_owned(),
                report: Some(report),
                lost: None,
                wall: started.elapsed(),
            },
            None => lost("timeout", format!("no answer within {timeout:?}")),
        };
    }
    match last {
        Some(report) if status.is_some_and(|s| s.success()) => Outcome {
            name: name.to_owned(),
            report: Some(report),
            lost: None,
            wall: started.elapsed(),
        },
        _ => {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            lost(
                "crash",
                format!(
                    "{}: {last}",
                    status.map_or_else(|| "killed".into(), |s| s.to_string())
                ),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// The child: one document, start to end.

/// One document's figures, as a JSON line for the driver.
#[derive(Default)]
struct Doc {
    operations: usize,
    parts: usize,
    /// Optional work was cut short at the time budget.
    truncated: bool,
    tools: usize,
    error: Option<(String, String)>,
    skipped: Tally,
    warnings: Tally,
    /// Failures by class (validate, compile, arguments, sandbox, output, ...).
    failures: BTreeMap<&'static str, Tally>,
    /// How many tools passed each stage.
    passed: BTreeMap<&'static str, usize>,
    ms: BTreeMap<&'static str, f64>,
    kib: BTreeMap<&'static str, u64>,
}

/// Counts by cause, with the first message of each.
#[derive(Default)]
struct Tally(BTreeMap<String, (usize, String)>);

impl Tally {
    fn add(&mut self, message: &str) {
        let entry = self
            .0
            .entry(cause(message))
            .or_insert_with(|| (0, shorten(message, 300)));
        entry.0 += 1;
    }

    fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, (n, m))| (k.clone(), json!([n, m])))
                .collect(),
        )
    }
}

impl Doc {
    fn fail(&mut self, class: &'static str, message: &str) {
        self.failures.entry(class).or_default().add(message);
    }

    fn pass(&mut self, stage: &'static str) {
        *self.passed.entry(stage).or_default() += 1;
    }

    fn to_json(&self) -> Value {
        json!({
            "operations": self.operations,
            "parts": self.parts,
            "truncated": self.truncated,
            "tools": self.tools,
            "error": self.error.as_ref().map(|(c, m)| json!([c, m])),
            "skipped": self.skipped.to_json(),
            "warnings": self.warnings.to_json(),
            "failures": self.failures.iter().map(|(k, t)| ((*k).to_owned(), t.to_json())).collect::<Map<_, _>>(),
            "passed": self.passed,
            "ms": self.ms,
            "kib": self.kib,
        })
    }
}

/// The report so far, marked as cut short: the driver keeps it if the child is stopped
/// before its final report.
fn provisional(doc: &Doc) {
    let mut report = doc.to_json();
    report["truncated"] = json!(true);
    println!("{report}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The process's peak resident set so far, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn operations(paths: &Map<String, Value>) -> usize {
    paths
        .values()
        .filter_map(Value::as_object)
        .map(|item| {
            item.keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .count()
        })
        .sum()
}

fn one(path: &Path, deadline: Instant) -> Value {
    let mut doc = Doc::default();
    let started = Instant::now();
    let parsed = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
    doc.ms.insert("parse", ms(started.elapsed()));
    doc.kib.insert("parsed", peak_kib());
    let mut document = match parsed {
        Ok(d) => d,
        Err(e) => {
            doc.error = Some(("not JSON".into(), e));
            return doc.to_json();
        }
    };
    doc.operations = document
        .get("paths")
        .and_then(Value::as_object)
        .map_or(0, operations);
    let started = Instant::now();
    let whole = document::read(&document, &Include::default(), "");
    let mut read_time = started.elapsed();
    let reads = match whole {
        Ok(read) => {
            provisional(&doc);
            vec![read]
        }
        Err(e) => {
            doc.error = Some((cause(&e), e));
            provisional(&doc);
            if doc.operations > MAX_OPERATIONS
                && std::env::var_os("MCPGW_OPENAPI_CORPUS_PARTS").is_some_and(|v| v == "1")
            {
                let (reads, time, truncated) = read_in_parts(&mut document, deadline);
                doc.truncated |= truncated;
                read_time += time;
                reads
            } else {
                Vec::new()
            }
        }
    };
    doc.parts = reads.len();
    doc.ms.insert("read", ms(read_time));

    // What the store would accept: every tool deserialised and validated (schemas compiled).
    let started = Instant::now();
    let mut parts: Vec<Vec<ToolDef>> = Vec::new();
    for read in &reads {
        for s in &read.skipped {
            doc.skipped.add(&s.reason);
        }
        let mut defs = Vec::new();
        for (tool, warnings) in &read.tools {
            doc.tools += 1;
            for w in warnings {
                doc.warnings.add(w);
            }
            match serde_json::from_value::<ToolDef>(tool.clone()) {
                Err(e) => doc.fail("validate", &format!("not a ToolDef: {e}")),
                Ok(def) => match def.validate() {
                    Err(e) if e.message.contains("not a valid JSON Schema") => {
                        doc.fail("compile", &e.to_string());
                    }
                    Err(e) => doc.fail("validate", &e.to_string()),
                    Ok(()) => {
                        doc.pass("validate");
                        defs.push(def);
                    }
                },
            }
        }
        parts.push(defs);
    }
    doc.ms.insert("validate", ms(started.elapsed()));
    doc.kib.insert("import", peak_kib());
    drop(reads);
    drop(document);

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for defs in parts {
        runtime.block_on(sandbox(&mut doc, defs, deadline));
    }
    doc.ms.insert("sandbox", ms(started.elapsed()));
    doc.kib.insert("peak", peak_kib());
    doc.to_json()
}

/// A document over the operation limit, read as consecutive parts of its paths that each
/// stay under it: what an import of the whole would give, were it allowed. The paths are
/// moved in and out of the one document, so no part copies the rest of it.
fn read_in_parts(document: &mut Value, deadline: Instant) -> (Vec<document::Read>, Duration, bool) {
    let Some(Value::Object(paths)) = document.get_mut("paths").map(Value::take) else {
        return (Vec::new(), Duration::ZERO, false);
    };
    let mut chunks: Vec<Map<String, Value>> = vec![Map::new()];
    let mut in_chunk = 0;
    for (path, item) in paths {
        let n = item.as_object().map_or(0, |i| {
            i.keys().filter(|k| METHODS.contains(&k.as_str())).count()
        });
        if in_chunk + n > MAX_OPERATIONS {
            chunks.push(Map::new());
            in_chunk = 0;
        }
        in_chunk += n;
        chunks.last_mut().expect("a chunk").insert(path, item);
    }
    let mut reads = Vec::new();
    let mut time = Duration::ZERO;
    for chunk in chunks {
        if Instant::now() > deadline {
            return (reads, time, true);
        }
        document["paths"] = Value::Object(chunk);
        let started = Instant::now();
        let read = document::read(document, &Include::default(), "");
        time += started.elapsed();
        if let Ok(read) = read {
            reads.push(read);
        }
    }
    (reads, time, false)
}

/// Serves `defs` from a data plane runtime and calls every tool once in the sandbox.
async fn sandbox(doc: &mut Doc, mut defs: Vec<ToolDef>, deadline: Instant) {
    defs.sort_by(|a, b| a.id.cmp(&b.id));
    // A tool the data plane refuses takes its whole integration down: each one found is
    // recorded and left out, so the others are still exercised.
    let integration = loop {
        let snapshot = IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "bench".into(),
                integration_id: "corpus".into(),
            },
            display_name: "corpus".into(),
            description: String::new(),
            enabled: true,
            tools: defs.clone(),
            carried: ToolsCarried::All,
            keys: Vec::new(),
            limits: Limits::default(),
            config_id: None,
            revision: None,
            oauth: None,
            catalog: Default::default(),
        };
        match IntegrationRuntime::build(snapshot) {
            Ok(runtime) => break Arc::new(runtime),
            Err(e) => {
                let (BuildError::Schema { tool, .. } | BuildError::Render { tool, .. }) = &e;
                doc.fail("data plane build", &e.to_string());
                let tool = tool.clone();
                defs.retain(|d| d.id != tool);
            }
        }
    };
    let cpu = CpuPool::default();
    let ctx = Ctx {
        integration: integration.clone(),
        backend: Backend::Simulator(cpu.clone()),
        shared: Arc::new(mcp::Shared {
            cpu: cpu.clone(),
            limiters: Arc::new(Limiters::new(LimitDefaults::default())),
            settings: mcp::Settings::default(),
            metrics: Arc::new(Metrics::new(Arc::new(SnapshotStore::default()))),
        }),
        accepts_sse: false,
        body_bytes: 0,
        deadline: tokio::time::Instant::now() + Duration::from_secs(3600),
        timeout_ms: 3_600_000,
    };
    for def in &defs {
        if Instant::now() > deadline {
            doc.truncated = true;
            return;
        }
        let Some(tool) = integration.tool(&def.id) else {
            doc.fail("data plane build", "a validated tool is not served");
            continue;
        };
        // Sampled with no seed arguments, so every run generates the same arguments.
        let arguments = sample::sample(&def.input_schema, &Map::new());
        let validator = match tool.validator(&cpu).await {
            Ok(v) => v,
            Err(e) => {
                doc.fail("data plane compile", &e.to_string());
                continue;
            }
        };
        let errors = tools::validation_errors(&validator, &arguments);
        let result = if let Some(first) = errors.first() {
            doc.fail("arguments", first);
            // The sandbox is still exercised, past the validation the arguments failed.
            let empty = Map::new();
            let output = ctx
                .backend
                .run(&integration, tool, arguments.as_object().unwrap_or(&empty))
                .await;
            let mut result = json!({"content": output.content});
            if output.is_error {
                result["isError"] = json!(true);
            }
            if let Some(s) = output.structured {
                result["structuredContent"] = s;
            }
            Ok(result)
        } else {
            doc.pass("arguments");
            let params = json!({"name": def.id, "arguments": arguments});
            tools::call(&ctx, Version::V2025_06_18, Some(&params)).await
        };
        let result = match result {
            Ok(r) => r,
            Err(CallError::Rpc(e)) => {
                doc.fail("sandbox", &format!("{}: {}", e.code, e.message));
                continue;
            }
            Err(CallError::Refused(_)) => {
                doc.fail("sandbox", "refused by the gateway's limits");
                continue;
            }
        };
        if result.get("isError") == Some(&Value::Bool(true)) {
            let text = result
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or("an error result");
            doc.fail("sandbox", text);
            continue;
        }
        doc.pass("sandbox");
        // MCP clients check structuredContent against outputSchema: what the sandbox answers
        // must conform, whether it is the document's example or a generated sample.
        let Some(schema) = &def.output_schema else {
            continue;
        };
        let source = if def.simulation.is_some() {
            "output (document example)"
        } else {
            "output (generated sample)"
        };
        let Some(structured) = result.get("structuredContent") else {
            doc.fail(
                source,
                "no structuredContent for a tool with an outputSchema",
            );
            continue;
        };
        match mcpgw_shared::schema::compile(&Value::Object(schema.clone())) {
            Err(e) => doc.fail("compile", &format!("outputSchema: {e}")),
            Ok(v) => match tools::validation_errors(&v, structured).first() {
                Some(e) => doc.fail(source, e),
                None => doc.pass(source),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Grouping messages into causes.

/// A message with its particulars (quoted names, numbers, lists, JSON pointers) blanked, so
/// the same failure in different documents is one cause.
fn cause(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut quoted = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    quoted.push(d);
                }
                if !closed {
                    out.push(c);
                    out.push_str(&quoted);
                    break;
                }
                out.push_str("'…'");
            }
            '[' | '{' | '(' => {
                let close = match c {
                    '[' => ']',
                    '{' => '}',
                    _ => ')',
                };
                let mut depth = 1;
                for d in chars.by_ref() {
                    if d == c {
                        depth += 1;
                    } else if d == close {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                out.push(c);
                out.push('…');
                out.push(close);
            }
            '/' if at_start || out.ends_with(' ') => {
                while chars
                    .peek()
                    .is_some_and(|d| !d.is_whitespace() && *d != ':')
                {
                    chars.next();
                }
                out.push_str("/…");
            }
            d if d.is_ascii_digit() => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('N');
            }
            _ => out.push(c),
        }
        at_start = false;
    }
    let out = out.replace("/…: ", "");
    shorten(out.trim(), 150)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

// ---------------------------------------------------------------------------------------
// The report.

/// One cause over the corpus: instances, documents, a few example documents and a message.
#[derive(Default)]
struct Cause {
    count: usize,
    documents: usize,
    examples: Vec<String>,
    message: String,
}

type Causes = BTreeMap<String, Cause>;

fn tally_into(causes: &mut Causes, doc: &str, tally: &Value) {
    for (cause, entry) in tally.as_object().into_iter().flatten() {
        let c = causes.entry(cause.clone()).or_default();
        c.count += entry[0].as_u64().unwrap_or(0) as usize;
        c.documents += 1;
        if c.examples.len() < EXAMPLES {
            c.examples.push(doc.to_owned());
        }
        if c.message.is_empty() {
            c.message = entry[1].as_str().unwrap_or_default().to_owned();
        }
    }
}

fn print_causes(title: &str, causes: &Causes) {
    if causes.is_empty() {
        return;
    }
    let total: usize = causes.values().map(|c| c.count).sum();
    println!("\n{title}: {total}");
    let mut sorted: Vec<(&String, &Cause)> = causes.iter().collect();
    sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    for (cause, c) in sorted {
        println!(
            "  {:>6} in {:>4} docs  {cause}\n                        e.g. {}\n                        first: {}",
            c.count,
            c.documents,
            c.examples.join(", "),
            shorten(&c.message, 240)
        );
    }
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0)
}

#[allow(clippy::too_many_lines)]
fn report(results: &[Outcome], wall: Duration, timeout: Duration) {
    let mut errors = Causes::new();
    let mut skipped = Causes::new();
    let mut warnings = Causes::new();
    let mut failures: BTreeMap<String, Causes> = BTreeMap::new();
    let (mut operations, mut tools, mut read_ok, mut clean, mut in_parts) = (0, 0, 0, 0, 0);
    let mut truncated = Vec::new();
    let mut passed: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in results {
        let name = &outcome.name;
        let Some(r) = &outcome.report else {
            if let Some((cause, message)) = &outcome.lost {
                let c = errors.entry(cause.clone()).or_default();
                c.count += 1;
                c.documents += 1;
                if c.examples.len() < EXAMPLES {
                    c.examples.push(name.clone());
                }
                if c.message.is_empty() {
                    c.message.clone_from(message);
                }
            }
            continue;
        };
        operations += r["operations"].as_u64().unwrap_or(0);
        if r["truncated"] == true {
            truncated.push(name.as_str());
        }
        tools += r["tools"].as_u64().unwrap_or(0);
        if let Some(e) = r["error"].as_array() {
            let c = errors
                .entry(e[0].as_str().unwrap_or_default().to_owned())
                .or_default();
            c.count += 1;
            c.documents += 1;
            if c.examples.len() < EXAMPLES {
                c.examples.push(name.clone());
            }
            if c.message.is_empty() {
                c.message = e[1].as_str().unwrap_or_default().to_owned();
            }
            if r["parts"].as_u64().unwrap_or(0) > 0 {
                in_parts += 1;
            }
        } else {
            read_ok += 1;
            if r["failures"].as_object().is_none_or(Map::is_empty) {
                clean += 1;
            }
        }
        tally_into(&mut skipped, name, &r["skipped"]);
        tally_into(&mut warnings, name, &r["warnings"]);
        for (class, tally) in r["failures"].as_object().into_iter().flatten() {
            tally_into(failures.entry(class.clone()).or_default(), name, tally);
        }
        for (stage, n) in r["passed"].as_object().into_iter().flatten() {
            *passed.entry(stage.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    let documents = results.len();
    let pct = |n: usize| 100.0 * n as f64 / documents.max(1) as f64;
    let failed = |class: &str| -> usize {
        failures
            .get(class)
            .map_or(0, |c| c.values().map(|c| c.count).sum())
    };
    println!("\n=== OpenAPI import corpus: {documents} documents in {wall:.1?} ===");
    println!(
        "documents read without error:          {read_ok} ({:.2} %, target >= {TARGET_ERROR_FREE} %)",
        pct(read_ok)
    );
    println!(
        "  ... and every tool passing each stage: {clean} ({:.2} %)",
        pct(clean)
    );
    println!("operations:                            {operations}");
    println!(
        "tools made:                            {tools}   (including {in_parts} documents over {MAX_OPERATIONS} operations read in parts)"
    );
    let skips = skipped.values().map(|c| c.count).sum::<usize>();
    println!(
        "operations skipped:                    {skips} ({:.1} % of the operations)",
        100.0 * skips as f64 / operations.max(1) as f64
    );
    println!(
        "tools validated (ToolDef::validate):   {} passed, {} schema compile failures, {} other failures",
        passed.get("validate").copied().unwrap_or(0),
        failed("compile"),
        failed("validate")
    );
    println!(
        "data plane refusals (build / compile): {} / {}",
        failed("data plane build"),
        failed("data plane compile")
    );
    println!(
        "generated arguments valid:             {} passed, {} failed",
        passed.get("arguments").copied().unwrap_or(0),
        failed("arguments")
    );
    println!(
        "sandbox calls:                         {} succeeded, {} failed",
        passed.get("sandbox").copied().unwrap_or(0),
        failed("sandbox")
    );
    if !truncated.is_empty() {
        println!(
            "cut short at the time budget (figures partial): {}",
            truncated.join(", ")
        );
    }
    for source in ["output (document example)", "output (generated sample)"] {
        println!(
            "structuredContent matches outputSchema, {:<25} {} passed, {} failed",
            format!("{source}:"),
            passed.get(source).copied().unwrap_or(0),
            failed(source)
        );
    }

    print_causes(
        &format!("Document errors (timeout bound {timeout:?})"),
        &errors,
    );
    for (class, causes) in &failures {
        print_causes(&format!("Tool failures: {class}"), causes);
    }
    print_causes("Operations skipped, by reason", &skipped);
    print_causes("Warnings, by kind", &warnings);

    // Cost: the slowest and largest documents (each measured in its own process).
    let mut costs: Vec<(&str, f64, f64, f64, f64, f64)> = results
        .iter()
        .filter_map(|o| {
            let r = o.report.as_ref()?;
            Some((
                o.name.as_str(),
                number(r, "/ms/read"),
                number(r, "/ms/validate"),
                number(r, "/ms/sandbox"),
                number(r, "/kib/import") / 1024.0,
                number(r, "/kib/peak") / 1024.0,
            ))
        })
        .collect();
    println!(
        "\nCost per document (ms: parse excluded; MiB: peak RSS of the document's own process)"
    );
    println!(
        "  {:<48} {:>9} {:>9} {:>9} {:>12} {:>9}",
        "document", "read", "validate", "sandbox", "MiB (import)", "MiB (end)"
    );
    costs.sort_by(|a, b| (b.1 + b.2).total_cmp(&(a.1 + a.2)));
    let mut shown: Vec<&str> = Vec::new();
    let row = |c: &(&str, f64, f64, f64, f64, f64)| {
        println!(
            "  {:<48} {:>9.0} {:>9.0} {:>9.0} {:>12.1} {:>9.1}",
            shorten(c.0, 48),
            c.1,
            c.2,
            c.3,
            c.4,
            c.5
        );
    };
    for c in costs.iter().take(5) {
        shown.push(c.0);
        row(c);
    }
    costs.sort_by(|a, b| b.5.total_cmp(&a.5));
    for c in costs.iter().take(3).filter(|c| !shown.contains(&c.0)) {
        row(c);
    }
    if let [only] = results
        && let Some(r) = &only.report
    {
        let seconds = (number(r, "/ms/read") + number(r, "/ms/validate")) / 1000.0;
        let mib = number(r, "/kib/import") / 1024.0;
        println!(
            "\n{}: parse {:.0} ms, read + validate {seconds:.2} s (target <= {TARGET_GITHUB_SECONDS} s), peak RSS after import {mib:.0} MiB (target <= {TARGET_GITHUB_MIB} MiB; {:.0} MiB once parsed), {:.0} MiB after the sandbox calls; process wall {:.1?}",
            only.name,
            number(r, "/ms/parse"),
            number(r, "/kib/parsed") / 1024.0,
            number(r, "/kib/peak") / 1024.0,
            only.wall
        );
    }
}
