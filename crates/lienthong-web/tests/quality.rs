//! The quality view in a real browser (headless Chromium): every dataset's six scores, the
//! drill-down to the records to fix, the JSON twin, and data from the records escaped.

use std::collections::BTreeMap;

use lienthong_dictionary::catalog::{CITIZEN, SOCIAL_INSURANCE};
use lienthong_quality::{Builder, Criterion};
use lienthong_registry::Registry;

fn chromium(url: &str) -> Option<String> {
    lienthong_testkit::chromium(&["--dump-dom", url])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quality_view_shows_every_dataset_and_its_records_to_fix() {
    let board = lienthong_web::QualityBoard::default();
    {
        let mut b = Builder::new(&CITIZEN, 5);
        for _ in 0..4 {
            b.record(&vec!["x".to_owned(); CITIZEN.fields.len()]);
        }
        b.fail(
            2,
            "<script>alert('key')</script>",
            Criterion::Correct,
            "birth_date",
            "date.impossible",
            "no <b>31 February</b>",
        );
        b.fail(
            3,
            "001090123456",
            Criterion::Clean,
            "record",
            "person.duplicate",
            "the same person as record 1",
        );
        let citizen = b.finish("2026-12-02T10:00:00+07:00", BTreeMap::new());
        let mut b = Builder::new(&SOCIAL_INSURANCE, 5);
        b.record(&vec![String::new(); SOCIAL_INSURANCE.fields.len()]);
        let insurance = b.finish("2026-12-02T10:00:00+07:00", BTreeMap::new());
        let mut w = board.write().unwrap();
        w.insert("citizen".into(), citizen);
        w.insert("social_insurance".into(), insurance);
    }
    let registry = Registry {
        instance: "VN".into(),
        members: vec![],
        services: vec![],
        agreements: vec![],
        revoked: vec![],
        witness: None,
        catalogue: vec![],
    };
    let app = lienthong_web::router(
        lienthong_web::Sources::new(registry, vec![], vec![], vec![]).with_quality(board.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let list_url = format!("http://{addr}/quality");
    let list = tokio::task::spawn_blocking(move || chromium(&list_url))
        .await
        .unwrap();
    let Some(list) = list else { return };
    assert_eq!(list.matches("class=\"dataset\"").count(), 2, "{list}");
    assert!(
        list.contains("Thống nhất") && list.contains("Dùng chung"),
        "{list}"
    );
    // citizen: correct 3 of 4, clean 3 of 4.
    assert!(list.contains("75.0 %"), "{list}");
    assert!(
        list.contains("href=\"/quality?lang=vi&amp;dataset=citizen\""),
        "{list}"
    );

    let detail_url = format!("http://{addr}/quality?lang=en&dataset=citizen");
    let detail = tokio::task::spawn_blocking(move || chromium(&detail_url).unwrap())
        .await
        .unwrap();
    assert_eq!(detail.matches("class=\"failing\"").count(), 2, "{detail}");
    assert!(
        detail.contains("Records to fix") && detail.contains("Unified"),
        "{detail}"
    );
    assert!(
        !detail.contains("<script>alert") && !detail.contains("<b>31"),
        "{detail}"
    );
    assert!(
        detail.contains("&lt;script&gt;alert('key')&lt;/script&gt;"),
        "{detail}"
    );
    assert!(detail.contains("<b id=\"records\">4</b>"), "{detail}");

    // The JSON twin is the report itself.
    let api_url = format!("http://{addr}/api/quality?dataset=citizen");
    let api = tokio::task::spawn_blocking(move || chromium(&api_url).unwrap())
        .await
        .unwrap();
    assert!(
        api.contains("\"dataset\":\"citizen\"") && api.contains("person.duplicate"),
        "{api}"
    );
    let unknown_url = format!("http://{addr}/quality?dataset=nope");
    let unknown = tokio::task::spawn_blocking(move || chromium(&unknown_url).unwrap())
        .await
        .unwrap();
    assert!(unknown.contains("id=\"none\""), "{unknown}");
}
