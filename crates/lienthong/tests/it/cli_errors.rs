//! Unusable input gives exit 2 and one clear line on stderr; valid and invalid data give 0 and 1.

use crate::lienthong;

const HEADER: &str = "personal_id,full_name,birth_date,sex,ethnicity,religion,nationality,province_code,commune_code,address,phone,email,updated_at\n";
const CLEAN: &str = "001090123456,Nguyễn Văn An,1990-03-25,1,01,,VN,01,00004,\"Số 12, Phố Quán Thánh, Phường Ba Đình, Thành phố Hà Nội\",0912345678,an@example.vn,2025-08-01T10:00:00+07:00\n";

fn validate(dir: &std::path::Path, dataset: &str, file: &str) -> std::process::Output {
    lienthong(
        &[
            "dictionary",
            "validate",
            "--dataset",
            dataset,
            "--input",
            file,
            "--today",
            "2026-11-23",
            "--report",
            "report.json",
            "--normalized-out",
            "norm.csv",
        ],
        dir,
    )
}

#[test]
fn exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("clean.csv"), format!("{HEADER}{CLEAN}")).unwrap();
    std::fs::write(
        d.join("dirty.csv"),
        format!(
            "{HEADER}{CLEAN}{}",
            CLEAN.replace("001090123456", "01090123456")
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("extra.csv"),
        HEADER.replace("updated_at", "updated_at,nickname"),
    )
    .unwrap();
    std::fs::write(d.join("short.csv"), "personal_id,full_name\n").unwrap();
    std::fs::write(
        d.join("binary.csv"),
        [HEADER.as_bytes(), b"\xff\xfe\x00,1\n"].concat(),
    )
    .unwrap();
    std::fs::write(d.join("empty.csv"), "").unwrap();
    std::fs::write(d.join("data.txt"), HEADER).unwrap();

    let ok = validate(d, "citizen", "clean.csv");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let norm = std::fs::read_to_string(d.join("norm.csv")).unwrap();
    assert!(norm.contains("+84912345678"), "{norm}");

    let bad = validate(d, "citizen", "dirty.csv");
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["invalid_records"], 1);
    let rule = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "id.length")
        .unwrap();
    assert_eq!(rule["examples"][0]["value"], "01090123456");
    assert_eq!(rule["examples"][0]["line"], 3);
    assert!(String::from_utf8_lossy(&bad.stdout).contains("id.length"));

    let cases = [
        ("citizen", "missing.csv", "opening input"),
        ("nope", "clean.csv", "unknown dataset"),
        ("citizen", "extra.csv", "nickname"),
        ("citizen", "short.csv", "lacks mandatory column"),
        ("citizen", "binary.csv", "not valid UTF-8"),
        ("citizen", "empty.csv", "empty"),
        ("citizen", "data.txt", "--format"),
    ];
    for (dataset, file, want) in cases {
        let out = validate(d, dataset, file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(want), "{file}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{file}: one line: {err}");
    }
}

#[test]
fn export_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = lienthong(
        &[
            "dictionary",
            "export",
            "--format",
            "json-schema",
            "--dataset",
            "citizen",
        ],
        dir.path(),
    );
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$id"], "urn:lienthong:dataset:citizen");
    let out = lienthong(&["dictionary", "export", "--format", "openapi"], dir.path());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let out = lienthong(&["dictionary", "codes", "province"], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 34);
    let out = lienthong(
        &["dictionary", "codes", "commune", "--province", "01"],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 126);
    let out = lienthong(
        &["dictionary", "codes", "province", "--on", "2025-01-01"],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 63);
    let out = lienthong(
        &["dictionary", "codes", "ethnicity", "--ordering", "gso"],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("04\tMường"));
    let out = lienthong(
        &["dictionary", "export", "--format", "json-schema"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    // A reader that leaves early (`| head`) is no error. The commune list (87 kB) is more
    // than a pipe holds, so its writer always meets the closed pipe.
    for args in [
        "dictionary export --format openapi",
        "dictionary codes commune",
    ] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; '{}' {args} | head -c 10 >/dev/null",
                env!("CARGO_BIN_EXE_lienthong")
            ))
            .output()
            .unwrap();
        assert!(
            out.stderr.is_empty() && out.status.success(),
            "{args}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = lienthong(&["synth", "--out", "x", "--noise", "bogus=1"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown defect class"));
}

#[test]
fn log_archive_commands_explain_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = lienthong(&["log", "archive", "--db", "none.db", "--out-dir", "a"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--older-than-days or --through"));
    let out = lienthong(
        &[
            "log",
            "archive",
            "--db",
            "none.db",
            "--through",
            "5",
            "--out-dir",
            "a",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message log"));
    std::fs::write(d.join("x.jsonl"), "{\"format\":\"something else\"}\n").unwrap();
    let out = lienthong(
        &[
            "log",
            "verify-archive",
            "--file",
            "x.jsonl",
            "--key",
            "AAAA",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("INVALID: not a lienthong-archive/v1 file")
    );
    let out = lienthong(
        &[
            "log",
            "prune-bodies",
            "--db",
            "none.db",
            "--older-than-days",
            "30",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// The message-log bench refuses sizes it cannot measure with one line, and measures a tree
/// smaller than the 100 entries of its person's history (it once ran, then failed at the end).
#[test]
fn the_ledger_bench_takes_small_trees_and_refuses_empty_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (flag, value) in [
        ("--proof-tree-size", "1"),
        ("--entries", "0"),
        ("--concurrency", "0"),
    ] {
        let out = lienthong(&["bench", "ledger", flag, value, "--dir", "b"], d);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = lienthong(
        &[
            "bench",
            "ledger",
            "--entries",
            "40",
            "--concurrency",
            "4",
            "--proof-tree-size",
            "10",
            "--dir",
            "b",
        ],
        d,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("a person's history of 10 entries at 10 entries"),
        "{stdout}"
    );
}

/// A record of another register that names a person or an enterprise is checked against that
/// register when it is given as a reference — its ids normalised on both sides — and not
/// otherwise; a reference that cannot be used is refused with one line.
#[test]
fn records_are_checked_against_the_registers_given_as_references() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("citizen.csv"), format!("{HEADER}{CLEAN}")).unwrap();
    std::fs::write(
        d.join("farms.csv"),
        "record_id,personal_id,full_name,province_code,commune_code,crop,area_m2,year\n\
         NN00000001,001 090 123 456,Nguyễn Văn An,01,00004,rice,1200,2025\n\
         NN00000002,001090999999,Trần Thị Bình,01,00004,pigs,300,2025\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "dictionary",
            "validate",
            "--dataset",
            "farm_record",
            "--input",
            "farms.csv",
            "--today",
            "2026-11-23",
            "--findings",
            "findings.jsonl",
        ];
        args.extend_from_slice(extra);
        let out = lienthong(&args, d);
        let findings = std::fs::read_to_string(d.join("findings.jsonl")).unwrap_or_default();
        (out, findings)
    };
    // Without the register: nothing to check against.
    let (out, findings) = run(&[]);
    assert!(
        !findings.contains("reference.not_in_register"),
        "{findings}"
    );
    assert!(out.status.code().is_some());
    // With it: the second person is not in the register; the first is (its id written in
    // groups, normalised before it is looked up, as the register's ids are).
    let (out, findings) = run(&["--reference", "citizen=citizen.csv"]);
    assert_eq!(out.status.code(), Some(1), "{findings}");
    let missing: Vec<serde_json::Value> = findings
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["rule"] == "reference.not_in_register")
        .collect();
    assert_eq!(missing.len(), 1, "{findings}");
    assert_eq!(missing[0]["record"], 2, "{findings}");
    assert_eq!(missing[0]["field"], "personal_id", "{findings}");
    // A register without a one-field key, or no such dataset: refused, exit 2.
    for bad in ["land_owner=citizen.csv", "nosuch=citizen.csv"] {
        let (out, _) = run(&["--reference", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--reference"), "{bad}: {err}");
    }
}
