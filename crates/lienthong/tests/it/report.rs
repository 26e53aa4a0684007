//! The monthly report: `lienthong report monthly` writes JSON, HTML and a PDF printed by
//! Chromium; the JSON is the dashboard's `/api/report`, every figure on both pages is the
//! JSON's, and the figures are what the history holds for the month (Vietnam time).

use std::process::Command;

use lienthong_web::history::{History, Point};

const REGISTRY: &str = r#"instance = "VN"

[[members]]
id = "VN/GOV/BHXH/SI"
name = "Bảo hiểm xã hội Việt Nam"
signing_key = "AAAA"
address = "127.0.0.1:9"
cert_fingerprint = "0000000000000000000000000000000000000000000000000000000000000000"

[[members]]
id = "VN/GOV/BCA/DANCU"
name = "Bộ Công an"
signing_key = "AAAA"
address = "127.0.0.1:9"
cert_fingerprint = "0000000000000000000000000000000000000000000000000000000000000000"

[[services]]
id = "VN/GOV/BCA/DANCU/citizen"
dataset = "citizen"

[[catalogue]]
id = "population"
name = "Cơ sở dữ liệu quốc gia về dân cư"
scope = "national"
agency = "Bộ Công an"
legal_basis = "Luật Căn cước 2023"
datasets = ["citizen"]
members = ["VN/GOV/BCA/DANCU"]
pipelines = ["VN/GOV/BCA/DANCU/citizen"]
planned = { connected = "2026-11-15", synced = "2027-06-30" }
"#;

fn p(series: &str, t: i64, value: f64) -> Point {
    Point {
        series: series.into(),
        t,
        value,
    }
}

/// The value at a `data-key` path (`agencies.1.served`) of the report.
fn at<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    key.split('.')
        .fold(report, |v, k| match k.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[k],
        })
}

/// Every `data-key="…">value<` of a page.
fn figures(page: &str) -> Vec<(String, String)> {
    page.split("data-key=\"")
        .skip(1)
        .map(|rest| {
            let (key, rest) = rest.split_once('"').unwrap();
            let value = rest[1..].split('<').next().unwrap().trim().to_owned();
            (key.to_owned(), value)
        })
        .collect()
}

fn check_figures(page: &str, report: &serde_json::Value) {
    let figures = figures(page);
    assert!(figures.len() >= 12, "{figures:?}");
    for (key, shown) in figures {
        let want = match key.as_str() {
            "alerts.open_at_end" => report["alerts"]["open_at_end"]
                .as_array()
                .unwrap()
                .len()
                .to_string(),
            "databases.0.lag_p95_s" => format!(
                "{:.1}",
                report["databases"][0]["lag"][0]["p95_s"].as_f64().unwrap()
            ),
            _ => at(report, &key).to_string(),
        };
        assert_eq!(shown, want, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_in_json_html_and_pdf_equals_the_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let registry_file = dir.path().join("registry.toml");
    std::fs::write(&registry_file, REGISTRY).unwrap();
    let history_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("history.db").display()
    );
    let h = History::open(&history_url).await.unwrap();
    // November 2026 in Vietnam time starts 2026-10-31 17:00 UTC.
    let nov = 1_793_466_000;
    let svc = "VN/GOV/BCA/DANCU/citizen";
    h.add(
        &[
            // An hour before the month (still October in Vietnam): not counted.
            p(&format!("exchanges:{svc}"), nov - 60, 100.0),
            p(&format!("exchanges:{svc}"), nov + 60, 7.0),
            p(&format!("served:{svc}"), nov + 60, 5.0),
            p("refusals:Client.PurposeNotAllowed", nov + 60, 2.0),
            p("consumed:VN/GOV/BHXH/SI", nov + 60, 7.0),
            p(&format!("exchanges:{svc}"), nov + 20 * 86_400, 3.0),
            p(&format!("served:{svc}"), nov + 20 * 86_400, 3.0),
            p("consumed:VN/GOV/BHXH/SI", nov + 20 * 86_400, 3.0),
            p("downtime_s:VN/GOV/BCA/DANCU", nov + 3_600, 40.0),
            p("lag_s:VN/GOV/BCA/DANCU/citizen", nov + 3_600, 2.0),
            p("lag_s:VN/GOV/BCA/DANCU/citizen", nov + 7_200, 8.0),
            p("quality:citizen", nov + 3_600, 91.5),
            p("quality:citizen", nov + 29 * 86_400, 96.0),
            p("road:population/connected", nov + 3_600, 0.0),
            p("road:population/connected", nov + 25 * 86_400, 2.0),
            // December: not counted.
            p(&format!("exchanges:{svc}"), nov + 30 * 86_400 + 60, 50.0),
        ],
        &[],
    )
    .await
    .unwrap();
    h.save_alerts(&[lienthong_web::alerting::Alert {
        id: "node_down|VN/GOV/BCA/DANCU|1".into(),
        rule: "node_down".into(),
        subject: "VN/GOV/BCA/DANCU".into(),
        state: "firing".into(),
        detail: "d".into(),
        started_ms: (nov + 86_400) * 1000,
        last_ms: (nov + 86_400) * 1000,
        acked_ms: None,
        acked_by: None,
        resolved_ms: None,
    }])
    .await
    .unwrap();
    drop(h);

    // The dashboard over the same history and registry.
    let registry: lienthong_registry::Registry = toml::from_str(REGISTRY).unwrap();
    let sources = lienthong_web::Sources::new(registry, vec![], vec![], vec![])
        .with_history(History::open(&history_url).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, lienthong_web::router(sources))
            .await
            .unwrap();
    });

    let (json, html, pdf) = (
        dir.path().join("r.json"),
        dir.path().join("r.html"),
        dir.path().join("r.pdf"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args([
            "report",
            "monthly",
            "--month",
            "2026-11",
            "--history",
            &history_url,
        ])
        .arg("--registry")
        .arg(&registry_file)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--pdf")
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // What the history holds for November, and nothing of October or December.
    assert_eq!(report["totals"]["exchanges"], 10);
    assert_eq!(report["totals"]["refused"], 2);
    assert_eq!(report["resolution_s"], 3_600);
    let population = &report["databases"][0];
    assert_eq!(
        (
            population["exchanges"].as_u64(),
            population["refused"].as_u64()
        ),
        (Some(10), Some(2))
    );
    assert_eq!(population["road"][1]["state_at_end"], "done");
    assert_eq!(population["road"][1]["due_in_month"], true);
    assert_eq!(population["road"][2]["state_at_end"], "unknown");
    assert_eq!(population["lag"][0]["p95_s"], 8.0);
    assert_eq!(population["quality"][0]["start"], 91.5);
    assert_eq!(population["quality"][0]["end"], 96.0);
    let bhxh = &report["agencies"][0];
    assert_eq!(
        (bhxh["member"].as_str(), bhxh["consumed"].as_u64()),
        (Some("VN/GOV/BHXH/SI"), Some(10))
    );
    assert_eq!(report["agencies"][1]["downtime_s"], 40);
    assert_eq!(report["refusals"][0]["code"], "Client.PurposeNotAllowed");
    assert_eq!(report["alerts"]["open_at_end"].as_array().unwrap().len(), 1);
    // As it stood at the month's end, whatever the dashboard has done with it since.
    assert_eq!(report["alerts"]["open_at_end"][0]["state"], "firing");

    // The dashboard's JSON is the same report.
    let api: serde_json::Value = get_json_async(&format!("{url}/api/report?month=2026-11")).await;
    assert_eq!(api, report);
    // Every figure of the printed HTML and of the dashboard's page is the JSON's.
    check_figures(&std::fs::read_to_string(&html).unwrap(), &report);
    if let Some(page) =
        lienthong_testkit::chromium(&["--dump-dom", &format!("{url}/report?month=2026-11")])
    {
        assert!(page.contains("Báo cáo tháng 2026-11"), "{page}");
        check_figures(&page, &report);
        let artifacts =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let shot = artifacts.join("report.png");
        let _ = std::fs::remove_file(&shot);
        lienthong_testkit::chromium(&[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,1400",
            &format!("{url}/report?month=2026-11"),
        ])
        .unwrap();
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000));
        std::fs::copy(&pdf, artifacts.join("report.pdf")).unwrap();
    }
    // A real PDF, of at least one page.
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    assert!(bytes
        .windows(10)
        .any(|w| w == b"/Type /Pag" || w == b"/Type/Page"));

    // Bad input: one line, exit 2.
    for (args, says) in [
        (
            vec![
                "--month",
                "2026-13",
                "--history",
                &history_url,
                "--registry",
                "x.toml",
            ],
            "expected YYYY-MM",
        ),
        (
            vec!["--month", "2026-11"],
            "give --data-dir, or --history and --registry",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["report", "monthly"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

async fn get_json_async(url: &str) -> serde_json::Value {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || crate::demo::get_json(&url))
        .await
        .unwrap()
}
