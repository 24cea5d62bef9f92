//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` from the system's
//! PostgreSQL (Debian's `postgresql` package; `.ci/run` installs it) in a temporary directory,
//! listening on a free loopback port, stopped and removed when dropped. When the tests run as
//! root (as CI does) the server runs as the `postgres` user, since `initdb` refuses root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL server.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory of the newest installed PostgreSQL's server binaries.
fn binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: install the \
             `postgresql` package (.ci/run does)"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Initialises and starts a server (about a second). Panics with the server's log if it
    /// cannot.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`Postgres::start`], accepting TLS connections only (`hostssl` in `pg_hba.conf`), with
    /// the certificate chain and key of these PEM files.
    #[must_use]
    pub fn start_tls(cert: &Path, key: &Path) -> Self {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcpgw-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let as_postgres = is_root();
        let mut pg = Self {
            bin: binaries(),
            port: 0,
            dir,
            as_postgres,
        };
        if as_postgres {
            pg.run(Command::new("chown").arg("postgres:").arg(&pg.dir));
        }
        pg.run(
            pg.tool("initdb")
                .args(["-A", "trust", "-U", "mcpgw", "-N", "-E", "UTF8", "-D"])
                .arg(pg.data()),
        );
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
                std::fs::copy(from, pg.data().join(to)).expect("copy the TLS files");
            }
            std::fs::write(
                pg.data().join("pg_hba.conf"),
                "hostssl all all 127.0.0.1/32 trust\n",
            )
            .expect("write pg_hba.conf");
            if as_postgres {
                pg.run(
                    Command::new("chown")
                        .arg("-R")
                        .arg("postgres:")
                        .arg(pg.data()),
                );
            }
            pg.run(
                Command::new("chmod")
                    .arg("600")
                    .arg(pg.data().join("server.key")),
            );
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let started = pg
                .tool("pg_ctl")
                .arg("-D")
                .arg(pg.data())
                .arg("-l")
                .arg(pg.dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{options}",
                    pg.dir.display()
                ))
                .args(["-w", "-t", "30", "start"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run pg_ctl");
            if started.success() {
                pg.port = port;
                return pg;
            }
        }
        panic!(
            "PostgreSQL did not start:\n{}",
            std::fs::read_to_string(pg.dir.join("log")).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, command: &mut Command) {
        let out = command.output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates database `name` and returns its URL.
    #[must_use]
    pub fn database(&self, name: &str) -> String {
        self.run(
            Command::new(self.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-U", "mcpgw", "-p"])
                .arg(self.port.to_string())
                .arg(name),
        );
        self.url(name)
    }

    /// The URL of database `name` over TLS (`sslmode=require`), as user `mcpgw`.
    #[must_use]
    pub fn tls_url(&self, name: &str) -> String {
        format!(
            "postgres://mcpgw@127.0.0.1:{}/{name}?sslmode=require",
            self.port
        )
    }

    /// The URL of database `name` (plain TCP on loopback, as user `mcpgw`).
    #[must_use]
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://mcpgw@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// Runs one SQL statement with `psql` and returns its unaligned output.
    #[must_use]
    pub fn sql(&self, database: &str, statement: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-U", "mcpgw", "-At", "-p"])
            .arg(self.port.to_string())
            .args(["-d", database, "-c", statement])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
