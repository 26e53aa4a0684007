//! What the test suites share: where they find the services they need, and how a test that
//! cannot run says so.
//!
//! A test that needs PostgreSQL, MariaDB, NATS, the fault cluster, Chromium or a program asks
//! for it here. When it is there, the test runs. When it is not:
//! - under `CI=true` the test fails (a missing service is the run's failure, never a pass);
//! - elsewhere the test returns early, prints why, and is counted as skipped: the test command
//!   (`scripts/test.sh`) gives every run a file in `LIENTHONG_TEST_SKIPS`, each skip appends a
//!   line to it, and the closing line counts them, so a green run with skipped tests never
//!   reads as a complete one.
//!
//! No I/O beyond the environment, that one file, and looking for a program on disk.

use std::io::Write;
use std::path::PathBuf;

/// The variable naming the file each skip is appended to (set by `scripts/test.sh`).
pub const SKIPS_VAR: &str = "LIENTHONG_TEST_SKIPS";

/// Whether this run is CI's (`CI=true`), where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Records that the calling test did not run for `why`: panics under CI, otherwise prints the
/// reason and appends it to the skip file. The caller returns right after.
#[track_caller]
pub fn skip(why: &str) {
    let at = std::panic::Location::caller();
    if under_ci() {
        panic!("{why} under CI=true (at {at}): CI runs every test, see scripts/test.sh");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("skipping {test}: {why} (run the tests through scripts/test.sh)");
    if let Some(path) = std::env::var_os(SKIPS_VAR) {
        // One line per skip; O_APPEND keeps lines whole when tests run in parallel.
        let line = format!("{test}\t{at}\t{why}\n");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The URL of a service in `var` (`LIENTHONG_TEST_POSTGRES_URL`, `…_MARIADB_URL`,
/// `…_NATS_URL`, `…_FAULT_PG_URL`), or `None` after [`skip`] when it is not set.
#[track_caller]
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            skip(&format!("{var} is not set"));
            None
        }
    }
}

/// The first of `candidates` that exists (a program such as `/usr/bin/chromium`), or `None`
/// after [`skip`].
#[track_caller]
pub fn program(what: &str, candidates: &[&str]) -> Option<PathBuf> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        skip(&format!("{what} is not installed"));
    }
    found
}

/// Headless Chromium (Debian's package; the test command installs it) run with `args`
/// (`--dump-dom URL`, `--screenshot=…`) in a fresh profile; its standard output, or `None`
/// after [`skip`] when it is not installed.
#[track_caller]
pub fn chromium(args: &[&str]) -> Option<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let bin = program(
        "chromium (the browser part)",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    )?;
    let profile = std::env::temp_dir().join(format!(
        "lt-chromium-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let out = std::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("running chromium");
    let _ = std::fs::remove_dir_all(&profile);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_counted_in_the_file_and_a_present_service_is_returned() {
        if under_ci() {
            // Under CI a skip is a failure by design; what is counted is checked elsewhere.
            let r = std::panic::catch_unwind(|| skip("a service"));
            assert!(r.is_err(), "a skip under CI must fail the test");
            return;
        }
        let dir = std::env::temp_dir().join(format!("lt-skips-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        std::env::set_var(SKIPS_VAR, &dir);
        std::env::set_var("LT_TESTKIT_SET", "postgres://x");
        std::env::remove_var("LT_TESTKIT_UNSET");
        assert_eq!(service("LT_TESTKIT_SET").as_deref(), Some("postgres://x"));
        assert_eq!(service("LT_TESTKIT_UNSET"), None);
        assert_eq!(program("nothing", &["/nonexistent/bin/x"]), None);
        let text = std::fs::read_to_string(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("LT_TESTKIT_UNSET is not set"), "{text}");
    }
}
