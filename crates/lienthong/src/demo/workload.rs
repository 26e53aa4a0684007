//! The live workload (lookups and new events) and the sync status file for `sync status`.

use super::*;

/// A `sync.toml` describing the demo's pipelines, so `lienthong sync status` can read them.
pub(super) fn write_sync_status_config(dir: &Path, center_client: SocketAddr) -> Result<PathBuf> {
    let abs = std::fs::canonicalize(dir)?;
    let db = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            abs.join(format!("{name}.db")).display()
        )
    };
    let mut text = format!("replica_url = \"{}\"\n", db("center-replica"));
    for a in AGENCIES {
        if let Some((table, dataset)) = a.publishes {
            let dataset = dataset.name;
            text.push_str(&format!("\n[[pipelines]]\nname = \"{}/{table}\"\ndataset = \"{dataset}\"\nsource_url = \"{}\"\nsource_table = \"{table}\"\n", a.id, db(&slug(a.id))));
        }
    }
    text.push_str(&format!(
        "\n[[pipelines]]\nname = \"{p}/{s}\"\ndataset = \"{d}\"\nsource = \"node\"\nnode_url = \"http://{center_client}\"\nservice = \"{p}/{s}\"\nclient = \"{c}\"\npurpose = \"{purpose}\"\n",
        p = HOP.province,
        s = HOP.service,
        d = catalog::CIVIL_STATUS_EVENT.name,
        c = HOP.center,
        purpose = HOP.purpose
    ));
    let path = abs.join("sync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<hyper::body::Bytes>,
>;

/// How the workload reaches an agency's client face: plain HTTP (the center's, on loopback)
/// or TLS with the agency system's certificate (SSLAUTH).
pub(super) enum Face {
    Plain(SocketAddr),
    Tls(SocketAddr, Box<Https>),
}

impl Face {
    /// An HTTP/2 client presenting `portal`'s certificate, trusting the registry CA.
    pub(super) fn tls(addr: SocketAddr, ca_pem: &str, portal: &Portal) -> Result<Face> {
        let tls = lienthong_trust::client_config(ca_pem, &portal.cert_pem, &portal.key_pem)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http2()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build(connector);
        Ok(Face::Tls(addr, Box::new(client)))
    }
}

/// Lookups with purposes (a few refused on purpose), and agency updates that sync carries.
pub(super) async fn workload(
    clients: Vec<Face>,
    pages: Vec<(String, String)>,
    sample: Vec<String>,
    bhxh_db: String,
    communes_db: String,
    seed: u64,
) {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    let plain: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let calls = [
        (1, "VN/GOV/BHXH/SI", "insurance-enrolment"),
        (2, "VN/GOV/BYT/BHYT", "health-insurance-card"),
        (5, "VN/LOCAL/HANOI/UBND", "residence-management"),
        (4, "VN/GOV/BGDDT/HOCSINH", "school-enrolment"),
        (1, "VN/GOV/BHXH/SI", "marketing"),
        (7, "VN/GOV/TTDLQG/CENTER", "national-data-center"),
    ];
    // Every 10 s, each agency reads one page of each other register it has an agreement for
    // (the population register is read above, the city's feed by the center's pipeline): the
    // catalogue's "connected" is then measured on every database the demo runs.
    let reads: Vec<(usize, String, String, String)> = agreements()
        .into_iter()
        .filter(|a| {
            !a.service.starts_with("VN/GOV/BCA/DANCU/")
                && a.service != format!("{}/{}", HOP.province, HOP.service)
                && a.basis.as_deref() != Some("consent")
        })
        .filter_map(|a| {
            // The page to read: a path under the service.
            let filter = &pages.iter().find(|(s, _)| *s == a.service)?.1;
            let i = AGENCIES.iter().position(|x| x.id == a.consumer)?;
            let purpose = a.purposes.first()?.clone();
            let path = format!("{}/{filter}", a.service);
            Some((i, a.consumer, path, purpose))
        })
        .collect();
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        tick += 1;
        if tick.is_multiple_of(40) {
            for (i, consumer, path, purpose) in &reads {
                let (scheme, addr) = match &clients[*i] {
                    Face::Plain(a) => ("http", a),
                    Face::Tls(a, _) => ("https", a),
                };
                let uri = format!("{scheme}://{addr}/r1/{path}");
                if let Ok(req) = hyper::Request::get(uri)
                    .header("X-Road-Client", consumer.as_str())
                    .header("X-Lienthong-Purpose", purpose.as_str())
                    .header("X-Road-UserId", "VN-DEMO-OFFICER")
                    .body(Empty::new())
                {
                    let _ = match &clients[*i] {
                        Face::Plain(_) => plain.request(req).await,
                        Face::Tls(_, tls) => tls.request(req).await,
                    };
                }
            }
        }
        if sample.is_empty() {
            continue;
        }
        let pid = &sample[rng.gen_range(0..sample.len())];
        let (i, member, purpose) = calls[rng.gen_range(0..calls.len())];
        let (scheme, addr) = match &clients[i] {
            Face::Plain(a) => ("http", a),
            Face::Tls(a, _) => ("https", a),
        };
        let uri = format!("{scheme}://{addr}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
        if let Ok(req) = hyper::Request::get(uri)
            .header("X-Road-Client", member)
            .header("X-Lienthong-Purpose", purpose)
            .header("X-Road-UserId", "VN-DEMO-OFFICER")
            .body(Empty::new())
        {
            let _ = match &clients[i] {
                Face::Plain(_) => plain.request(req).await,
                Face::Tls(_, tls) => tls.request(req).await,
            };
        }
        if tick.is_multiple_of(8) {
            // The wall clock in Vietnam time: later than every earlier update, across runs.
            let now = lienthong_registry::server::now_s() as i64;
            let day = lienthong_core::vietnam_date(now);
            let secs = (now + lienthong_core::VIETNAM_UTC_OFFSET_S).rem_euclid(86_400);
            let ts = format!(
                "{day}T{:02}:{:02}:{:02}+07:00",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            if let Ok(pool) = sqlx::AnyPool::connect(&bhxh_db).await {
                let _ = sqlx::query("UPDATE participants SET updated_at = ?, status = CASE status WHEN 'active' THEN 'suspended' ELSE 'active' END WHERE insurance_no = (SELECT insurance_no FROM participants ORDER BY random() LIMIT 1)").bind(ts.clone()).execute(&pool).await;
                pool.close().await;
            }
            // A commune of Hà Nội registers a birth: commune → city → center.
            if let Ok(pool) = sqlx::AnyPool::connect(&communes_db).await {
                let _ = sqlx::query("INSERT INTO ho_tich (event_id, event_type, personal_id, full_name, event_date, province_code, commune_code, registered_at, updated_at) VALUES (?, 'birth', ?, 'Nguyễn Minh Khang', ?, '01', '00004', ?, ?)")
                    .bind(format!("HT{now}{:04}", tick % 10_000))
                    .bind(pid.clone())
                    .bind(day.to_string())
                    .bind(ts.clone())
                    .bind(ts)
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}

/// A page of each register the workload reads: one province where the dataset has one, else
/// the first facility's tax code or person's id in its table; and the school system's REST API.
pub(super) async fn register_pages(db: &dyn Fn(&str) -> String) -> Result<Vec<(String, String)>> {
    let mut pages = Vec::new();
    for a in AGENCIES {
        let Some((table, dataset)) = a.publishes else {
            continue;
        };
        let query = if dataset.field("province_code").is_some() {
            Some("province_code=01".to_owned())
        } else {
            let mut found = None;
            for column in ["tax_code", "personal_id"] {
                if dataset.field(column).is_some() && dataset.key != [column] {
                    found = first_row(&db(&slug(a.id)), table, &[column])
                        .await?
                        .pop()
                        .map(|v| format!("{column}={v}"));
                    break;
                }
            }
            found
        };
        if let Some(q) = query {
            pages.push((format!("{}/{table}", a.id), format!("records?{q}&limit=1")));
        }
    }
    // The school system's own REST API, proxied by the ministry's node.
    pages.push((
        format!("{SCHOOL}/{}", school_api::SERVICE),
        "v1/students".to_owned(),
    ));
    Ok(pages)
}
