//! The demo's nodes: each agency's tables and node configuration.

use super::*;

/// What every node's configuration draws on.
pub(super) struct Setup<'a> {
    pub(super) dir: &'a Path,
    pub(super) ports: &'a Ports,
    pub(super) ca: &'a Ca,
    pub(super) registry_key: &'a SigningKey,
    pub(super) systems: &'a [Portal],
    /// The Ministry of Education's REST API.
    pub(super) api: SocketAddr,
    pub(super) log_keys: &'a [SigningKey],
    pub(super) witness_key: &'a SigningKey,
}

/// The tables an agency's node publishes.
pub(super) fn tables(a: &Agency, db: &dyn Fn(&str) -> String) -> Vec<TableConfig> {
    a.publishes
        .map(|(code, dataset)| TableConfig {
            code: code.into(),
            dataset,
            database_url: db(&slug(a.id)),
            table: code.into(),
            // By province where the dataset has one; a person's records by their id where
            // the id is not the key (the e-documents); a facility's by its tax code.
            filters: ["province_code", "personal_id", "tax_code"]
                .into_iter()
                .filter(|f| dataset.field(f).is_some() && dataset.key != [*f])
                .map(str::to_owned)
                .collect(),
            columns: Default::default(),
            connections_max: 4,
            changes: false,
        })
        .into_iter()
        .chain((a.id == HOP.province).then(|| TableConfig {
            code: HOP.service.into(),
            dataset: &catalog::CIVIL_STATUS_EVENT,
            database_url: db(HOP.province_db),
            table: catalog::CIVIL_STATUS_EVENT.name.into(),
            filters: vec!["province_code".into()],
            columns: Default::default(),
            connections_max: 4,
            changes: true,
        }))
        .collect()
}

/// Agency `i`'s node configuration.
pub(super) fn config(
    setup: &Setup,
    i: usize,
    a: &Agency,
    (key, cert, tls_key): (&SigningKey, &String, &String),
    tables: Vec<TableConfig>,
) -> Result<NodeConfig> {
    let Setup {
        dir,
        ports,
        ca,
        registry_key,
        systems,
        api,
        log_keys,
        witness_key,
    } = setup;
    let (client, peer, admin) = ports.node(i);
    Ok(NodeConfig {
        member: MemberId::parse(a.id)?,
        client_listen: client,
        peer_listen: peer,
        admin_listen: admin,
        signing_key: SigningKey::from_pem(&key.to_pem()?)?,
        ca_pem: ca.cert_pem.clone(),
        cert_pem: cert.clone(),
        key_pem: tls_key.clone(),
        registry_url: format!("http://{}", ports.registry()),
        registry_key: registry_key.public_b64(),
        registry_poll_ms: 5_000,
        request_timeout_ms: 5_000,
        body_bytes_max: 4 << 20,
        inflight_body_bytes_max: 64 << 20,
        replay_window_s: 300,
        replay_entries_max: 1_000_000,
        tables,
        log_path: dir
            .join(format!("{}.messages.db", slug(a.id)))
            .display()
            .to_string(),
        log_bodies: false,
        log_bodies_services: vec![],
        log_bodies_retention_days: None,
        log_archive_dir: None,
        log_archive_after_days: None,
        default_purposes: Default::default(),
        // The center's client face serves its own sync on this host (loopback,
        // NOAUTH); every agency's systems present their certificates.
        connections_max: 1024,
        consumer_calls_max: 64,
        consumer_rate_per_s: 0,
        client_auth: if a.id == HOP.center {
            node::ClientAuth::NoAuth
        } else {
            node::ClientAuth::SslAuth {
                cert_pem: cert.clone(),
                key_pem: tls_key.clone(),
                systems: vec![node::ClientSystem {
                    name: format!("{}-portal", slug(a.id)),
                    fingerprint: systems[i].fingerprint.clone(),
                }],
            }
        },
        rest: if a.id == SCHOOL {
            vec![node::RestConfig {
                code: school_api::SERVICE.into(),
                base_url: format!("http://{api}"),
            }]
        } else {
            vec![]
        },
        log_key: Some(SigningKey::from_pem(&log_keys[i].to_pem()?)?),
        witness_key: if a.id == HOP.center {
            Some(SigningKey::from_pem(&witness_key.to_pem()?)?)
        } else {
            None
        },
        witness_every_ms: 5_000,
        documents: citizen::documents(a.id, ports),
    })
}
