//! Typed source columns end to end, on PostgreSQL and MariaDB: real agency tables hold DATE,
//! TIMESTAMP, TIMESTAMPTZ / DATETIME, INTEGER, NUMERIC, BOOLEAN, large text and NULLs, not only
//! TEXT. The same values arrive once through the snapshot and once through the change stream;
//! each must reach the replica as the same normalised text, and as the dictionary's own
//! reading of the value written the usual way.

use std::collections::BTreeMap;

use lienthong_dictionary::catalog::{CrossCheck, Dataset, Field};
use lienthong_dictionary::element::FieldOpts;
use lienthong_dictionary::validate::{Options, Validator};
use lienthong_sync::SourceConfig;

use super::*;

const OPTS: FieldOpts = FieldOpts {
    ethnicity: &lienthong_dictionary::codes::ETHNICITY_QD121,
};

const fn field(name: &'static str, element: &'static str, mandatory: bool) -> Field {
    Field {
        name,
        element,
        mandatory,
        opts: OPTS,
    }
}

/// A dataset over the shared elements whose columns are typed, one type each.
static TYPED: Dataset = Dataset {
    name: "typed_probe",
    title: "Typed columns",
    fields: &[
        field("n", "amount_vnd", true),        // INTEGER key
        field("born", "date", false),          // DATE
        field("at_local", "timestamp", false), // TIMESTAMP / DATETIME (no zone: +07:00)
        field("at_zoned", "timestamp", false), // TIMESTAMPTZ / TIMESTAMP (an instant)
        field("amount", "amount_vnd", false),  // BIGINT
        field("area", "area_m2", false),       // NUMERIC(12,2) / DECIMAL(12,2)
        field("flag", "employer_name", false), // BOOLEAN
        field("long_text", "address", false),  // TEXT over 2 kB, stored out of line
        field("note", "school_name", false),   // VARCHAR, NULL in one row
    ],
    key: &["n"],
    allow_extra: false,
    checks: &[] as &[CrossCheck],
};

/// An address of about 4 kB that does not compress away (PostgreSQL keeps it out of line).
fn long_address() -> String {
    let words = [
        "Ngõ",
        "Hẻm",
        "Xóm",
        "Thôn",
        "Tổ",
        "Khu",
        "Đường",
        "Ngách",
        "Lô",
        "Dãy",
    ];
    let mut s = String::new();
    let mut x: u32 = 7;
    while s.len() < 4000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push_str(&format!(
            "{} {}, ",
            words[(x >> 16) as usize % 10],
            (x >> 8) % 997
        ));
    }
    s + "Phường Ba Đình, Thành phố Hà Nội"
}

/// One row's values as SQL literals per dialect, and the same values written as an agency
/// would type them (what the dictionary is asked to read).
struct Values {
    sql_pg: String,
    sql_my: String,
    typed: [String; 8],
}

fn values() -> [Values; 2] {
    let long = long_address();
    [
        Values {
            sql_pg: format!("DATE '1990-03-25', TIMESTAMP '2025-08-01 10:00:00', TIMESTAMPTZ '2025-08-01 10:00:00+07', 8500000, 120.50, TRUE, '{long}', NULL"),
            sql_my: format!("DATE '1990-03-25', TIMESTAMP '2025-08-01 10:00:00', TIMESTAMP '2025-08-01 03:00:00', 8500000, 120.50, TRUE, '{long}', NULL"),
            typed: [
                "1990-03-25".into(),
                "2025-08-01T10:00:00+07:00".into(),
                "2025-08-01T10:00:00+07:00".into(),
                "8500000".into(),
                "120.50".into(), // NUMERIC(12,2) keeps its scale
                "true".into(),
                long.clone(),
                String::new(),
            ],
        },
        Values {
            sql_pg: "DATE '2000-02-29', TIMESTAMP '2024-12-31 23:59:59', TIMESTAMPTZ '2024-12-31 17:00:00+00', 0, 0.75, FALSE, 'Số 3, Phường Ngọc Hà, Thành phố Hà Nội', 'Trường THPT Chu Văn An'".into(),
            sql_my: "DATE '2000-02-29', TIMESTAMP '2024-12-31 23:59:59', TIMESTAMP '2024-12-31 17:00:00', 0, 0.75, FALSE, 'Số 3, Phường Ngọc Hà, Thành phố Hà Nội', 'Trường THPT Chu Văn An'".into(),
            typed: [
                "2000-02-29".into(),
                "2024-12-31T23:59:59+07:00".into(),
                "2025-01-01T00:00:00+07:00".into(),
                "0".into(),
                "0.75".into(),
                "false".into(),
                "Số 3, Phường Ngọc Hà, Thành phố Hà Nội".into(),
                "Trường THPT Chu Văn An".into(),
            ],
        },
    ]
}

const COLS: &str = "n, born, at_local, at_zoned, amount, area, flag, long_text, note";

fn create(table: &str, mysql: bool) -> String {
    if mysql {
        format!("CREATE TABLE {table} (n INTEGER PRIMARY KEY, born DATE, at_local DATETIME, at_zoned TIMESTAMP NULL, amount BIGINT, area DECIMAL(12,2), flag BOOLEAN, long_text MEDIUMTEXT, note VARCHAR(200))")
    } else {
        format!("CREATE TABLE {table} (n INTEGER PRIMARY KEY, born DATE, at_local TIMESTAMP, at_zoned TIMESTAMPTZ, amount BIGINT, area NUMERIC(12,2), flag BOOLEAN, long_text TEXT, note VARCHAR(200)); ALTER TABLE {table} ALTER COLUMN long_text SET STORAGE EXTERNAL; ALTER TABLE {table} REPLICA IDENTITY FULL")
    }
}

/// Every replica row, key → values in field order.
async fn replica_rows(replica: &str, table: &str) -> BTreeMap<String, Vec<String>> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(replica).await.unwrap();
    let rows = sqlx::query(&format!("SELECT {COLS} FROM {table}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let v: Vec<String> = (0..9).map(|i| text_at(r, i).unwrap()).collect();
            (v[0].clone(), v[1..].to_vec())
        })
        .collect()
}

/// The dictionary's normalised reading of the values as typed.
fn dictionary_reading(typed: &[String; 8]) -> Vec<String> {
    let v = Validator::new(
        &TYPED,
        Options {
            today: "2026-11-23".into(),
            deceased: None,
            registers: Default::default(),
        },
    );
    let raw: Vec<&str> = std::iter::once("1")
        .chain(typed.iter().map(String::as_str))
        .collect();
    let out = v.validate(&raw);
    assert!(out.is_valid(), "{:?}", out.findings);
    out.values[1..].to_vec()
}

async fn contract(source_url: &str, source: SourceConfig, table: &str, mysql: bool) {
    let dir = tempfile::tempdir().unwrap();
    let replica = sqlite(dir.path(), "center.db");
    let vals = values();
    let literal =
        |n: u32, v: &Values| format!("({n}, {})", if mysql { &v.sql_my } else { &v.sql_pg });
    // Snapshot: rows 1 and 2.
    exec(
        source_url,
        &format!(
            "INSERT INTO {table} ({COLS}) VALUES {}, {}",
            literal(1, &vals[0]),
            literal(2, &vals[1])
        ),
    )
    .await;
    let mut cfg = config(&format!("typed-{table}"), source, &replica, "rep");
    cfg.dataset = &TYPED;
    let mut p = open(&cfg).await;
    until(&mut p, "snapshot", |s| {
        s.snapshot_done && s.rows_applied == 2
    })
    .await;
    // Stream: the same values under keys 3 and 4.
    exec(
        source_url,
        &format!(
            "INSERT INTO {table} ({COLS}) VALUES {}, {}",
            literal(3, &vals[0]),
            literal(4, &vals[1])
        ),
    )
    .await;
    until(&mut p, "stream", |s| s.rows_applied == 4).await;
    assert!(
        quarantine(&p).await.is_empty(),
        "{:?}",
        quarantine(&p).await
    );
    let rows = replica_rows(&replica, "rep").await;
    for (i, v) in vals.iter().enumerate() {
        let (snap, stream) = (&rows[&(i + 1).to_string()], &rows[&(i + 3).to_string()]);
        let mut typed = v.typed.clone();
        if mysql {
            // MariaDB's BOOLEAN is TINYINT(1): the value stored is 1 or 0.
            typed[5] = if typed[5] == "true" { "1" } else { "0" }.into();
        }
        let expected = dictionary_reading(&typed);
        for (f, field) in TYPED.fields[1..].iter().enumerate() {
            assert_eq!(
                snap[f], stream[f],
                "{}: snapshot and stream differ",
                field.name
            );
            assert_eq!(
                snap[f], expected[f],
                "{}: not the dictionary's reading of {:?}",
                field.name, typed[f]
            );
        }
    }
    // An update of another column leaves the large value as it was (PostgreSQL does not
    // resend an unchanged out-of-line value).
    exec(
        source_url,
        &format!("UPDATE {table} SET note = 'Trường THCS Ba Đình' WHERE n = 3"),
    )
    .await;
    until(&mut p, "update", |s| s.rows_applied == 5).await;
    let rows = replica_rows(&replica, "rep").await;
    assert_eq!(rows["3"][7], "Trường THCS Ba Đình");
    assert_eq!(rows["3"][6], rows["1"][6], "the large value was kept");
    assert!(rows["3"][6].len() > 4000);
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_postgres_columns_reach_the_replica_as_the_dictionary_reads_them() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let s = suffix();
    let table = format!("typed_{s}");
    exec(&pg, &create(&table, false)).await;
    let slot = format!("lt_test_{s}");
    contract(
        &pg,
        SourceConfig::Postgres {
            url: pg.clone(),
            table: table.clone(),
            slot: slot.clone(),
            publication: slot.clone(),
        },
        &table,
        false,
    )
    .await;
    for _ in 0..20 {
        let pool = sqlx::AnyPool::connect(&pg).await.unwrap();
        let r = sqlx::query(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'"
        ))
        .execute(&pool)
        .await;
        pool.close().await;
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    exec(
        &pg,
        &format!("DROP PUBLICATION IF EXISTS {slot}; DROP TABLE IF EXISTS {table}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_mariadb_columns_reach_the_replica_as_the_dictionary_reads_them() {
    let Some(maria) = url("LIENTHONG_TEST_MARIADB_URL") else {
        return;
    };
    let s = suffix();
    let table = format!("typed_{s}");
    exec(&maria, &create(&table, true)).await;
    contract(
        &maria,
        SourceConfig::MariaDb {
            url: maria.clone(),
            table: table.clone(),
            server_id: 5_000_000 + u32::from_str_radix(&s[..6], 16).unwrap() % 1_000_000,
        },
        &table,
        true,
    )
    .await;
    exec(&maria, &format!("DROP TABLE IF EXISTS {table}")).await;
}
