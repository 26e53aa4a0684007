//! docs/guide/join.md, followed as written: every `sh` block of the guide, in order, run by
//! bash in an empty directory with the built `lienthong` first on PATH — from nothing to an
//! allowed call, a refused one and two verified message logs. Only the loopback ports are
//! changed: the test binds each at port 0 and hands the sockets to the servers the guide
//! starts (systemd socket activation, so runs in parallel cannot collide) and, for the
//! PostgreSQL run, the provider's table.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::exchange::Socket;

const GUIDE: &str = include_str!("../../../../docs/guide/join.md");

/// The guide's `sh` blocks, in order.
fn commands() -> String {
    let mut script = String::new();
    let mut inside = false;
    for line in GUIDE.lines() {
        match (inside, line.trim_end()) {
            (false, "```sh") => inside = true,
            (true, "```") => {
                inside = false;
                script.push('\n');
            }
            (true, l) => {
                script.push_str(l);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(
        !inside && script.contains("lienthong node run"),
        "the guide's sh blocks were not found"
    );
    script
}

/// Runs the guide's commands in `dir` after `edit`; returns stdout.
fn follow(dir: &Path, edit: impl Fn(String) -> String) -> String {
    let mut script = commands();
    // The guide's ports, in order, each a socket of the test's, given to bash as fd 10 on.
    const PORTS: [u16; 7] = [7000, 8080, 8443, 9090, 8081, 8444, 9091];
    let (sockets, _) = Socket::many::<7>();
    for (fixed, socket) in PORTS.iter().zip(&sockets) {
        script = script.replace(
            &format!("127.0.0.1:{fixed}"),
            &format!("127.0.0.1:{}", socket.port()),
        );
    }
    // Each server the guide starts takes its sockets (LISTEN_FDS from fd 3).
    for (line, with) in [
        (
            "lienthong registry run --config registry.toml &",
            "LISTEN_FDS=1 LISTEN_FDNAMES=registry lienthong registry run --config registry.toml 3<&10 &",
        ),
        (
            "lienthong node run --config bca.toml &",
            "LISTEN_FDS=3 LISTEN_FDNAMES=client:peer:admin lienthong node run --config bca.toml 3<&11 4<&12 5<&13 &",
        ),
        (
            "lienthong node run --config bhxh.toml &",
            "LISTEN_FDS=3 LISTEN_FDNAMES=client:peer:admin lienthong node run --config bhxh.toml 3<&14 4<&15 5<&16 &",
        ),
    ] {
        assert!(script.contains(line), "the guide no longer says {line:?}");
        script = script.replace(line, with);
    }
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
        edit(script)
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_lienthong")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut bash = Command::new("bash");
    {
        use command_fds::{CommandFdExt, FdMapping};
        bash.fd_mappings(
            sockets
                .iter()
                .enumerate()
                .map(|(i, s)| FdMapping {
                    parent_fd: s.fd(),
                    child_fd: 10 + i as i32,
                })
                .collect(),
        )
        .unwrap();
    }
    let out = bash
        .env_remove("LISTEN_PID")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("running bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "the guide's commands ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the guide failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn check(stdout: &str) {
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(answers.len(), 3, "{stdout}");
    // Allowed: the record, normalised, with the agreement's fields only.
    assert_eq!(answers[0]["full_name"], "Nguyễn Văn An", "{stdout}");
    assert_eq!(answers[0]["birth_date"], "1990-03-25", "{stdout}");
    assert!(answers[0].get("sex").is_none(), "{stdout}");
    // Refused: a purpose the agreement does not allow.
    assert_eq!(answers[1]["type"], "Client.PurposeNotAllowed", "{stdout}");
    // A page of one, with the cursor to the next.
    assert_eq!(answers[2]["records"].as_array().map(Vec::len), Some(1));
    assert!(answers[2]["next_cursor"].is_string(), "{stdout}");
    // Both logs verify with their member's key.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("intact: ")).count(),
        2,
        "{stdout}"
    );
}

#[test]
fn the_join_guide_works_as_written_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check(&follow(dir.path(), |s| s));
}

#[test]
fn the_join_guide_works_as_written_on_postgres() {
    let Some(url) = lienthong_testkit::service("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!("citizen_{}", uuid::Uuid::new_v4().simple());
    let stdout = follow(dir.path(), |s| {
        let edited = s
            .replace(
                "sqlite3 bca/citizen.db <<'EOF'",
                &format!("psql -q -v ON_ERROR_STOP=1 '{url}' <<'EOF'"),
            )
            .replace("CREATE TABLE citizen ", &format!("CREATE TABLE {table} "))
            .replace("INSERT INTO citizen ", &format!("INSERT INTO {table} "))
            .replace(
                "database_url = \"sqlite://bca/citizen.db\"",
                &format!("database_url = \"{url}\""),
            )
            .replace("table = \"citizen\"", &format!("table = \"{table}\""));
        assert_eq!(edited.matches(&table).count(), 3, "{edited}");
        edited
    });
    let drop = Command::new("psql")
        .args([url.as_str(), "-q", "-c", &format!("DROP TABLE {table}")])
        .status()
        .unwrap();
    assert!(drop.success());
    check(&stdout);
}
