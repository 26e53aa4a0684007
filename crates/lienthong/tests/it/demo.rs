//! The national demo end to end: starts on ports the system gives (`--port 0`), its printed
//! curl commands work as printed, changes reach the center, Ctrl-C stops it cleanly and a
//! restart resumes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::exchange::Kill;

/// The demo, killed when the test ends however it ends (a failed assertion included).
pub(crate) fn start(data_dir: &std::path::Path, port: u16) -> (Kill, Vec<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args([
            "demo",
            "--citizens",
            "300",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Kill(vec![child]);
    let stdout = child.0[0].stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let ready = line.starts_with("ready");
        lines.push(line);
        if ready {
            break;
        }
    }
    assert!(
        lines.last().is_some_and(|l| l.starts_with("ready")),
        "demo did not start: {lines:?}"
    );
    (child, lines)
}

pub(crate) fn interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demo_starts_answers_its_printed_commands_syncs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Every socket where the system gives room (--port 0): the printed commands say where.
    let (mut child, lines) = start(&data, 0);
    let curls: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert_eq!(curls.len(), 10, "{lines:#?}");
    // Commands that write files write them here.
    let cwd = tempfile::tempdir().unwrap();
    let run = |cmd: &str| sh(cmd, cwd.path());
    let allowed = run(curls[0]);
    assert!(
        allowed.contains("\"personal_id\"") && !allowed.contains("ethnicity"),
        "{allowed}"
    );
    let refused = run(curls[1]);
    assert!(
        status_line(&refused).ends_with(" 400")
            && refused
                .to_ascii_lowercase()
                .contains("x-road-error: client.purposenotallowed"),
        "{refused}"
    );
    let masked = run(curls[2]);
    assert!(masked.contains("\"ethnicity\":\"***\""), "{masked}");
    rest_service_through_x_road(&curls[3..8], &run, cwd.path());
    // Another priority database through the exchange: an employer from the enterprise
    // register, with its valid tax code.
    let employer: serde_json::Value = serde_json::from_str(&run(curls[9])).unwrap_or_default();
    let tax_code = employer["tax_code"].as_str().unwrap_or_default();
    assert!(
        tax_code.len() == 10 && employer["enterprise_name"].is_string(),
        "{employer}"
    );

    // Sync reaches the center (the printed status command, run as printed).
    let status_line = lines
        .iter()
        .find(|l| l.contains("sync status"))
        .unwrap()
        .trim()
        .replacen("lienthong", env!("CARGO_BIN_EXE_lienthong"), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = run(&status_line);
        let citizen = status
            .lines()
            .find(|l| l.starts_with("VN/GOV/BCA/DANCU/citizen"))
            .unwrap_or("")
            .to_owned();
        let applied: u64 = citizen
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // Every priority database's pipeline reaches the center too: each row of its table
        // applied or quarantined, none lost.
        let synced = |(pipeline, table): &(&str, &str)| {
            let counts: Vec<u64> = status
                .lines()
                .find(|l| l.starts_with(pipeline))
                .map(|l| {
                    l.split_whitespace()
                        .skip(1)
                        .take(3)
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            let agency = pipeline.rsplit_once('/').unwrap().0.replace('/', "_");
            counts.len() == 3 && counts[0] + counts[2] == rows_in(&data, &agency, table)
        };
        let registers = [
            ("VN/GOV/BTC/DKDN/enterprises", "enterprises"),
            ("VN/GOV/BCT/HOACHAT/declarations", "declarations"),
            ("VN/GOV/TTCP/KSTSTN/declarations", "declarations"),
            ("VN/GOV/BTP/XLVPHC/decisions", "decisions"),
            ("VN/GOV/BXD/CPXD/permits", "permits"),
            ("VN/GOV/BNNMT/NONGNGHIEP/farms", "farms"),
        ];
        if applied > 250 && registers.iter().all(synced) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sync did not reach the center: {status}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A change in an agency database reaches the center's replica.
    change_reaches_center(&data);
    commune_event_reaches_center_hop_by_hop(&data);
    dashboard(&lines, curls[0]);
    assert!(interrupt(&mut child.0[0]).success(), "Ctrl-C exits 0");

    // Running again resumes: no regeneration, same data, answers at once.
    let started = Instant::now();
    let (mut again, lines2) = start(&data, 0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let curls2: Vec<&String> = lines2
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert_eq!(curls2.len(), 10);
    assert_eq!(run(curls2[0]), allowed, "same data after a restart");
    let log_line = lines2
        .iter()
        .find(|l| l.contains("log verify"))
        .unwrap()
        .trim()
        .replacen("lienthong", env!("CARGO_BIN_EXE_lienthong"), 1);
    assert!(run(&log_line).starts_with("intact:"));
    assert!(interrupt(&mut again.0[0]).success());
}

/// A printed command run as printed, in `cwd`; it must succeed. Its standard output.
pub(crate) fn sh(cmd: &str, cwd: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd.trim())
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The citizen face's sign-in link the demo prints.
pub(crate) fn sign_in_url(lines: &[String]) -> String {
    lines
        .iter()
        .find(|l| l.starts_with("Citizens:"))
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.contains("/citizen/login?login_hint="))
        })
        .expect("the citizen face's sign-in URL printed")
        .trim_end_matches(')')
        .to_owned()
}

/// `HTTP/2 400` or `HTTP/1.1 400`, as curl -i prints it.
pub(crate) fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("").trim()
}

/// The ministry's existing REST API through Hà Nội's node, with the printed commands: its own
/// headers, a POST search, a PDF, and the metaservices that list it.
fn rest_service_through_x_road(
    curls: &[&String],
    run: &dyn Fn(&str) -> String,
    cwd: &std::path::Path,
) {
    let record = run(curls[0]);
    let lower = record.to_ascii_lowercase();
    assert!(status_line(&record).ends_with(" 200"), "{record}");
    assert!(
        lower.contains("cache-control: private, max-age=60") && lower.contains("etag: \""),
        "the API's own headers pass: {record}"
    );
    assert!(!lower.contains("x-road-error"), "{record}");
    let body = record.split("\r\n\r\n").nth(1).unwrap_or("");
    let student: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        student["student_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{record}"
    );
    let found: serde_json::Value = serde_json::from_str(&run(curls[1])).unwrap();
    assert!(
        found
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["student_id"] == student["student_id"])),
        "the POST search finds the student: {found}"
    );
    assert_eq!(run(curls[2]).trim(), "200 application/pdf");
    let pdf = std::fs::read(cwd.join("certificate.pdf")).unwrap();
    assert!(
        pdf.starts_with(b"%PDF-1.4"),
        "the document passes byte for byte"
    );
    let clients = run(curls[3]);
    assert!(
        clients.contains("<ns2:clientList")
            && clients.contains("<ns1:memberCode>BGDDT</ns1:memberCode>"),
        "{clients}"
    );
    let allowed: serde_json::Value = serde_json::from_str(&run(curls[4])).unwrap();
    let students = allowed["service"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service_code"] == "students"))
        .unwrap_or_else(|| panic!("{allowed}"));
    assert_eq!(students["service_type"], "REST");
    let methods: Vec<&str> = students["endpoint_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "{allowed}"
    );
    // The other methods reach the API too, with the printed command's certificate: a PATCH
    // changes the record, OPTIONS answers the API's own Allow.
    let base = curls[0].replace(" -i -H", " -H");
    let patched = run(&base.replacen(
        " -H ",
        " -X PATCH -H 'Content-Type: application/json' -d '{\"school_year\":\"2026-2027\"}' -H ",
        1,
    ));
    let patched: serde_json::Value = serde_json::from_str(&patched).unwrap();
    assert_eq!(patched["school_year"], "2026-2027", "{patched}");
    let options = run(&base.replacen(" -H ", " -i -X OPTIONS -H ", 1));
    assert!(
        options
            .to_ascii_lowercase()
            .contains("allow: get, head, put, patch, delete, options"),
        "{options}"
    );
}

pub(crate) fn get_json(url: &str) -> serde_json::Value {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "{url}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Headless Chromium on the dashboard.
fn chromium(args: &[&str]) -> Option<String> {
    lienthong_testkit::chromium(args)
}

fn number_in(dom: &str, id: &str) -> u64 {
    let start = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + id.len()
        + 6;
    dom[start..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn dashboard(lines: &[String], allowed_curl: &str) {
    let url = lines
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") && l.starts_with("Dashboard"))
        })
        .expect("dashboard URL printed")
        .to_owned();
    // An exchange with a known id, to search for.
    let tagged = format!("{} -H 'X-Road-Id: dash-1'", allowed_curl.trim());
    assert!(Command::new("sh")
        .arg("-c")
        .arg(&tagged)
        .status()
        .unwrap()
        .success());
    let before = get_json(&format!("{url}api/overview"))["exchanges"]["total"]
        .as_u64()
        .unwrap();
    let Some(dom) = chromium(&["--dump-dom", &url]) else {
        return;
    };
    let after = get_json(&format!("{url}api/overview"))["exchanges"]["total"]
        .as_u64()
        .unwrap();
    let shown = number_in(&dom, "total");
    assert!(
        before <= shown && shown <= after,
        "page shows {shown}, API said {before}..{after}"
    );
    // The connections map: every member drawn, every node answering its health probe, one
    // arrow per (consumer, provider) pair with an agreement.
    let api = get_json(&format!("{url}api/overview"));
    let members = api["members"].as_array().unwrap();
    assert!(members.iter().all(|m| m["health"] == "up"), "{members:?}");
    assert!(dom.contains("<svg id=\"map\""), "connections map");
    assert_eq!(dom.matches("class=\"member\"").count(), members.len());
    assert_eq!(
        dom.matches("class=\"edge\"").count(),
        api["edges"].as_array().unwrap().len()
    );
    assert!(
        dom.contains("VN/LOCAL/HANOI/UBND/civil-status"),
        "the hop's pipeline is shown"
    );
    assert!(
        api["sync"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["lag_ms"].is_i64()),
        "lag in seconds for sources that know their change times: {}",
        api["sync"]
    );
    assert!(
        dom.contains("Đồng bộ về Trung tâm") && dom.contains("VN/GOV/BCA/DANCU/citizen"),
        "Vietnamese page with the sync table"
    );
    // The center witnesses every node's message log: cosigned, none flagged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let witness = loop {
        let w = get_json(&format!("{url}api/overview"))["witness"].clone();
        if w["witnessed"].as_array().is_some_and(|a| a.len() >= 3) {
            break w;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing witnessed: {w}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(witness["alarms"], serde_json::json!([]), "{witness}");
    assert!(
        dom.contains("id=\"witness-ok\""),
        "the page says no log was flagged"
    );
    // A citizen signs in (the demo's identity provider, the authorization code flow, the
    // session cookie — all followed by the browser) and sees who read their record, each
    // access checked against the node's log key and the center's cosignature.
    let sign_in = sign_in_url(lines);
    let citizen = chromium(&["--dump-dom", &sign_in]).unwrap();
    assert!(citizen.contains("id=\"accesses\""), "{citizen}");
    assert!(number_in(&citizen, "count") >= 1, "{citizen}");
    assert!(
        citizen.contains("Bảo hiểm xã hội") && citizen.contains("đã kiểm chứng"),
        "{citizen}"
    );
    let en = chromium(&["--dump-dom", &format!("{url}?lang=en")]).unwrap();
    assert!(en.contains("Sync to the center") && en.contains("Refusals by reason"));
    let api = get_json(&format!("{url}api/log?message_id=dash-1"));
    assert_eq!(
        api["records"].as_array().map(Vec::len),
        Some(2),
        "consumer and provider records: {api}"
    );
    let log_page =
        chromium(&["--dump-dom", &format!("{url}log?lang=en&message_id=dash-1")]).unwrap();
    assert_eq!(number_in(&log_page, "found"), 2);
    assert!(log_page.contains("insurance-enrolment"));
    // One click downloads an exchange's evidence; it verifies offline against the key the
    // registry publishes for the provider.
    let href = "/log/evidence?node=VN%2FGOV%2FBCA%2FDANCU&amp;message_id=dash-1";
    assert!(log_page.contains(href), "{log_page}");
    let registry = lines
        .iter()
        .find_map(|l| {
            l.split("registry ")
                .nth(1)
                .filter(|r| r.starts_with("http://"))
        })
        .expect("registry URL printed")
        .trim()
        .to_owned();
    let snapshot = get_json(&format!("{registry}/snapshot"));
    let body: serde_json::Value = serde_json::from_str(snapshot["body"].as_str().unwrap()).unwrap();
    let key = body["registry"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "VN/GOV/BCA/DANCU")
        .unwrap()["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = std::env::temp_dir().join(format!("lt-evidence-{}.json", std::process::id()));
    let got = Command::new("curl")
        .args(["-sf", "-o"])
        .arg(&file)
        .arg(format!(
            "{url}{}",
            href.replace("&amp;", "&").trim_start_matches('/')
        ))
        .status()
        .unwrap();
    assert!(got.success());
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["log", "verify-evidence", "--key", &key, "--file"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The quality view: every synced dataset scored at the center against the register's
    // replica, shown with its records to fix.
    let mut scored = serde_json::Value::Null;
    for _ in 0..240 {
        scored = get_json(&format!("{url}api/quality"));
        if scored.as_array().is_some_and(|a| a.len() >= 6) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let reports = scored
        .as_array()
        .expect("/api/quality lists the scorecards");
    assert!(reports.len() >= 6, "every synced dataset scored: {scored}");
    let insurance = reports
        .iter()
        .find(|r| r["dataset"] == "social_insurance")
        .expect("social_insurance scored");
    assert!(insurance["records"].as_u64().unwrap() > 0);
    assert!(
        insurance["criteria"]["unified"]["metrics"]["register_found"]
            .as_f64()
            .unwrap()
            > 0.5,
        "reconciled with the register: {}",
        insurance["criteria"]["unified"]
    );
    assert!(
        insurance["criteria"]["live"]["metrics"]["sync_lag_ms"].is_number(),
        "the live criterion carries the pipeline's sync lag: {}",
        insurance["criteria"]["live"]
    );
    let quality = chromium(&["--dump-dom", &format!("{url}quality")]).unwrap();
    assert_eq!(
        quality.matches("class=\"dataset\"").count(),
        reports.len(),
        "{quality}"
    );
    let detail = chromium(&[
        "--dump-dom",
        &format!("{url}quality?lang=en&dataset=social_insurance"),
    ])
    .unwrap();
    assert_eq!(
        number_in(&detail, "records"),
        insurance["records"].as_u64().unwrap()
    );
    assert!(detail.contains("Records to fix"), "{detail}");
    national_view(&url);
    // A screenshot as a test artifact.
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,1600",
        &url,
    ])
    .unwrap();
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "screenshot written to {}",
        shot.display()
    );
}

/// The program view and the history: every catalogue entry on its road as measured, the same
/// figures on the page as in the JSON, charts with the exchanges counted; screenshots kept.
fn national_view(url: &str) {
    let state = |c: &serde_json::Value, id: &str, step: &str| -> String {
        let db = c["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{id} in the catalogue: {c}"));
        let s = db["road"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .unwrap();
        s["state"].as_str().unwrap().to_owned()
    };
    // The history is sampled every 10 s: the population register's answers reach it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let catalogue = loop {
        let c = get_json(&format!("{url}api/catalogue"));
        if state(&c, "population", "connected") == "done" {
            break c;
        }
        assert!(Instant::now() < deadline, "population never connected: {c}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(catalogue["databases"].as_array().unwrap().len(), 15);
    for step in ["built", "synced", "standardised"] {
        assert_eq!(state(&catalogue, "population", step), "done", "{catalogue}");
    }
    // The hop's pipeline at the center carries the civil-status database.
    assert_eq!(state(&catalogue, "civil-status", "synced"), "done");
    // Not started, its planned date passed: overdue; nothing to measure: never done.
    assert_eq!(state(&catalogue, "civil-servants", "built"), "overdue");
    for id in ["civil-servants", "employment", "vehicles"] {
        for step in ["built", "connected", "synced", "standardised"] {
            assert_ne!(state(&catalogue, id, step), "done", "{id} {step}");
        }
    }
    let page = chromium(&["--dump-dom", &format!("{url}catalogue")]).unwrap();
    assert_eq!(page.matches("<tr id=\"db-").count(), 15, "{page}");
    assert!(page.contains("Cơ sở dữ liệu quốc gia về dân cư") && page.contains("quá hạn"));
    // The summary on the page is the JSON's.
    let summary_table = &page[page.find("id=\"road-summary\"").unwrap()..];
    let summary_table = &summary_table[..summary_table.find("</table>").unwrap()];
    for row in catalogue["summary"].as_array().unwrap() {
        let cells = format!(
            "{}</td><td class=\"num{}\">{}</td><td class=\"num\">{}</td>",
            row["done"],
            if row["overdue"].as_u64().unwrap() > 0 {
                " overdue"
            } else {
                ""
            },
            row["overdue"],
            row["pending"]
        );
        assert!(summary_table.contains(&cells), "{cells} in {summary_table}");
    }
    // History: the exchanges of the last hour, per minute, on the page and in the JSON.
    let h = get_json(&format!("{url}api/history?series=exchanges:&range=hour"));
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    let total: f64 = points.iter().map(|p| p[1].as_f64().unwrap()).sum();
    assert!(total > 0.0, "{h}");
    let page = chromium(&["--dump-dom", &format!("{url}history?lang=en")]).unwrap();
    let chart = &page[page
        .find("id=\"chart-exchanges\"")
        .expect("exchanges chart")..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches("class=\"bucket\"").count(), 60);
    assert!(page.contains("Largest lag (s) — VN/GOV/BCA/DANCU/citizen"));
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            &format!("{url}api/history?range=year"),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.ends_with("\n400") && out.contains("range is hour, day or month"),
        "{out}"
    );
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (name, path) in [
        ("catalogue", "catalogue"),
        ("history", "history?range=hour"),
    ] {
        let shot = artifacts.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(&[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600",
            &format!("{url}{path}"),
        ])
        .unwrap();
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
            "{}",
            shot.display()
        );
    }
}

/// Rows in an agency's table of the demo.
fn rows_in(data: &std::path::Path, agency: &str, table: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", data.join(format!("{agency}.db")).display());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = sqlx::Row::get(&sqlx::query(&sql).fetch_one(&pool).await.unwrap(), 0);
        pool.close().await;
        n as u64
    })
}

fn change_reaches_center(data: &std::path::Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let agency = sqlx::AnyPool::connect(&format!("sqlite://{}", data.join("VN_GOV_BHXH_SI.db").display())).await.unwrap();
        let no: String = sqlx::Row::get(&sqlx::query("SELECT insurance_no FROM participants LIMIT 1").fetch_one(&agency).await.unwrap(), 0);
        // Now, in Vietnam time, as the agency's own system would stamp it.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 1;
        let secs = (now + lienthong_core::VIETNAM_UTC_OFFSET_S).rem_euclid(86_400);
        let stamp = format!("{}T{:02}:{:02}:{:02}+07:00", lienthong_core::vietnam_date(now), secs / 3600, (secs / 60) % 60, secs % 60);
        sqlx::query("UPDATE participants SET employer_name = 'Công ty TNHH Thay Đổi', updated_at = ? WHERE insurance_no = ?").bind(stamp).bind(no.clone()).execute(&agency).await.unwrap();
        agency.close().await;
        let center = sqlx::AnyPool::connect(&format!("sqlite://{}", data.join("center-replica.db").display())).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let row = sqlx::query("SELECT employer_name FROM social_insurance WHERE insurance_no = ?").bind(no.clone()).fetch_optional(&center).await.unwrap();
            if row.is_some_and(|r| sqlx::Row::get::<String, _>(&r, 0) == "Công ty TNHH Thay Đổi") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the change to {no} did not reach the center");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        center.close().await;
    });
}

/// A civil-status event registered at a commune of Hà Nội reaches the city's replica, then
/// the center's, through the city's node (the change feed) and the center's node.
fn commune_event_reaches_center_hop_by_hop(data: &std::path::Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let url = |name: &str| format!("sqlite://{}", data.join(name).display());
        let communes = sqlx::AnyPool::connect(&url("VN_LOCAL_HANOI_communes.db")).await.unwrap();
        let id = format!("HTTEST{}", std::process::id());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 1;
        let secs = (now + lienthong_core::VIETNAM_UTC_OFFSET_S).rem_euclid(86_400);
        let stamp = format!("{}T{:02}:{:02}:{:02}+07:00", lienthong_core::vietnam_date(now), secs / 3600, (secs / 60) % 60, secs % 60);
        sqlx::query("INSERT INTO ho_tich (event_id, event_type, personal_id, full_name, event_date, province_code, commune_code, registered_at, updated_at) VALUES (?, 'death', '001090123456', 'Trần Văn Bình', '2026-11-30', '01', '00004', '2026-11-30T09:00:00+07:00', ?)")
            .bind(id.clone())
            .bind(stamp)
            .execute(&communes)
            .await
            .unwrap();
        communes.close().await;
        let center = sqlx::AnyPool::connect(&url("center-replica.db")).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let row = sqlx::query("SELECT event_type FROM civil_status_event WHERE event_id = ?")
                .bind(id.clone())
                .fetch_optional(&center)
                .await
                .unwrap_or(None);
            if row.is_some_and(|r| sqlx::Row::get::<String, _>(&r, 0) == "death") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "event {id} did not reach the center");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        center.close().await;
    });
}
