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

/// Chromium's binary and a fresh profile folder for one browser, or `None` after [`skip`].
#[track_caller]
fn chromium_and_profile() -> Option<(PathBuf, PathBuf)> {
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
    Some((bin, profile))
}

/// Headless Chromium (Debian's package; the test command installs it) run with `args`
/// (`--dump-dom URL`, `--screenshot=…`) in a fresh profile; its standard output, or `None`
/// after [`skip`] when it is not installed.
#[track_caller]
pub fn chromium(args: &[&str]) -> Option<String> {
    let (bin, profile) = chromium_and_profile()?;
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

/// Headless Chromium driven over the DevTools protocol (`--remote-debugging-pipe`), for
/// tests that click and submit: navigate, evaluate JavaScript in the page, read the DOM.
/// Cookies and redirects behave as in a browser. Dropped: the browser is killed.
pub struct Browser {
    child: std::process::Child,
    to: std::io::PipeWriter,
    from: std::io::BufReader<std::io::PipeReader>,
    session: String,
    next: u64,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Starts one on a blank page, or `None` after [`skip`] when Chromium is not installed.
    #[track_caller]
    pub fn open() -> Option<Browser> {
        use command_fds::{CommandFdExt, FdMapping};
        let (bin, profile) = chromium_and_profile()?;
        let (cmd_read, cmd_write) = std::io::pipe().expect("pipe");
        let (out_read, out_write) = std::io::pipe().expect("pipe");
        let mut command = std::process::Command::new(bin);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .fd_mappings(vec![
                FdMapping {
                    parent_fd: cmd_read.into(),
                    child_fd: 3,
                },
                FdMapping {
                    parent_fd: out_write.into(),
                    child_fd: 4,
                },
            ])
            .expect("fd mappings");
        let child = command.spawn().expect("starting chromium");
        let mut b = Browser {
            child,
            to: cmd_write,
            from: std::io::BufReader::new(out_read),
            session: String::new(),
            next: 0,
            profile,
        };
        let target = b.call(
            None,
            "Target.createTarget",
            serde_json::json!({ "url": "about:blank" }),
        );
        let target = target["targetId"].as_str().expect("a target").to_owned();
        let attached = b.call(
            None,
            "Target.attachToTarget",
            serde_json::json!({ "targetId": target, "flatten": true }),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_owned();
        Some(b)
    }

    /// One DevTools command; its result (events in between are skipped).
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        use std::io::{BufRead, Write};
        self.next += 1;
        let id = self.next;
        let mut msg = serde_json::json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("writing to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .expect("reading from chromium");
            assert!(n > 0, "chromium closed its pipe");
            buf.pop();
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("chromium's JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page; its value.
    pub fn eval(&mut self, js: &str) -> serde_json::Value {
        let session = self.session.clone();
        let r = self.call(
            Some(&session),
            "Runtime.evaluate",
            serde_json::json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        );
        r["result"]["value"].clone()
    }

    /// Goes to `url` and waits (up to 20 s) until a page has loaded whose location contains
    /// `landing` (after the redirects a sign-in makes, say).
    pub fn goto(&mut self, url: &str, landing: &str) {
        let session = self.session.clone();
        self.call(
            Some(&session),
            "Page.navigate",
            serde_json::json!({ "url": url }),
        );
        self.wait_for(landing);
    }

    /// Waits (up to 20 s) until the page at a location containing `landing` has loaded.
    pub fn wait_for(&mut self, landing: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let state = self.eval("location.href + ' ' + document.readyState");
            let s = state.as_str().unwrap_or("");
            if s.contains(landing) && s.ends_with(" complete") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never reached {landing}: {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Waits (up to 20 s) until `js` is true in a loaded page (after a form posts back to the
    /// same address, say, where the location does not tell the new page).
    pub fn wait_until(&mut self, js: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let check = format!("document.readyState === 'complete' && Boolean({js})");
        while self.eval(&check) != serde_json::Value::Bool(true) {
            assert!(std::time::Instant::now() < deadline, "never true: {js}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The page's HTML as it stands.
    pub fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
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
