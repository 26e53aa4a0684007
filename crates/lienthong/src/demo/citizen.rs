//! The center's citizen face in the demo, with a small OpenID Connect provider for the
//! synthetic citizens (the VNeID model, on loopback): docs/citizen.md.

use super::*;

/// Serves the identity provider and the citizen face on their ports; the face's address.
pub(super) async fn serve(
    ports: &data::Ports,
    register_db: &str,
    pid: &str,
    idp_key: SigningKey,
    (registry, center): (Registry, &RunningNode),
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<SocketAddr> {
    // Who may sign in: fifty people of the register, and the one the printed commands use.
    let mut people: Vec<(String, String)> = {
        let pool = sqlx::AnyPool::connect(register_db).await?;
        let rows = sqlx::query(
            "SELECT personal_id, full_name FROM citizen WHERE length(personal_id) = 12 LIMIT 50",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        rows.iter()
            .map(|r| {
                (
                    sqlx::Row::get::<String, _>(r, 0),
                    sqlx::Row::get::<String, _>(r, 1),
                )
            })
            .collect()
    };
    if !people.iter().any(|(id, _)| id == pid) {
        people.insert(0, (pid.to_owned(), String::new()));
    }
    let (citizen_addr, idp_addr) = (ports.citizen(), ports.idp());
    let issuer = format!("http://{idp_addr}");
    let client_secret = lienthong_trust::sha256_hex(SigningKey::generate().to_pem()?.as_bytes());
    let idp = lienthong_web::oidc_demo::router(lienthong_web::oidc_demo::DemoProvider {
        issuer: issuer.clone(),
        client_id: "lienthong-citizen".into(),
        client_secret: client_secret.clone(),
        redirect_uris: vec![format!("http://{citizen_addr}/citizen/callback")],
        people,
        key: idp_key,
    });
    tokio::spawn(node::serve_router(
        ports.take_tokio(idp_addr)?,
        None,
        idp,
        1024,
        stop.clone(),
    ));
    let face = lienthong_web::citizen::router(lienthong_web::citizen::CitizenFace {
        oidc: lienthong_web::citizen::Oidc {
            issuer,
            client_id: "lienthong-citizen".into(),
            client_secret,
            public_url: format!("http://{citizen_addr}"),
            id_claim: "sub".into(),
        },
        registry,
        gather: center.gatherer(),
        consent: Some(center.consenter()),
        documents: Some(center.document_desk()),
    });
    tokio::spawn(node::serve_router(
        ports.take_tokio(citizen_addr)?,
        None,
        face,
        1024,
        stop,
    ));
    Ok(citizen_addr)
}

/// The e-documents an agency's node issues in the demo: the population register a
/// residence confirmation, the health-insurance agency the card; their status lists are
/// published by the citizen face.
pub(super) fn documents(agency: &str, ports: &data::Ports) -> Option<DocumentsConfig> {
    let kind =
        |kind: &str, (name_vi, name_en): (&str, &str), table: &str, claims: &[&str]| DocumentKind {
            kind: kind.into(),
            vct: format!("urn:vn:lienthong:vct:{kind}"),
            name_vi: name_vi.into(),
            name_en: name_en.into(),
            table: table.into(),
            subject_field: "personal_id".into(),
            claims: claims.iter().map(|c| (*c).to_owned()).collect(),
            valid_days: 365,
        };
    let kinds = match agency {
        "VN/GOV/BCA/DANCU" => vec![kind(
            "residence",
            ("Xác nhận thông tin về cư trú", "Residence confirmation"),
            "citizen",
            &[
                "personal_id",
                "full_name",
                "birth_date",
                "sex",
                "nationality",
                "province_code",
                "commune_code",
                "address",
            ],
        )],
        "VN/GOV/BYT/BHYT" => vec![kind(
            "health_insurance",
            ("Thẻ bảo hiểm y tế", "Health-insurance card"),
            "cards",
            &[
                "card_no",
                "personal_id",
                "full_name",
                "birth_date",
                "sex",
                "valid_from",
                "valid_to",
                "province_code",
            ],
        )],
        _ => return None,
    };
    Some(DocumentsConfig {
        status_base: format!("http://{}/status", ports.citizen()),
        kinds,
    })
}
