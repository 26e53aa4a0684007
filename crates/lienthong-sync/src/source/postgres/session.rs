//! The replication session's settings, from the source URL: host, user, password, database,
//! and TLS by libpq's parameters.

use std::time::Duration;

use pgwire_replication::ReplicationConfig;

use super::SESSION;

/// TLS for the replication session from the URL's libpq parameters, as the snapshot's own
/// connection reads them: `sslmode` (`disable`, `allow` and `prefer` mean none — the session
/// cannot fall back —, `require`, `verify-ca`, `verify-full`), `sslrootcert` (the server's
/// CA; without it the Mozilla roots), `sslcert` and `sslkey` (a client certificate).
pub(super) fn replication_tls(u: &url::Url) -> Result<pgwire_replication::TlsConfig, String> {
    use pgwire_replication::TlsConfig;
    let param = |name: &str| {
        u.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let root = param("sslrootcert").map(std::path::PathBuf::from);
    let tls = match param("sslmode").as_deref() {
        None | Some("disable" | "allow" | "prefer") => return Ok(TlsConfig::disabled()),
        Some("require") => TlsConfig::require(),
        Some("verify-ca") => TlsConfig::verify_ca(root),
        Some("verify-full") => TlsConfig::verify_full(root),
        Some(other) => {
            return Err(format!(
                "source_url: sslmode {other:?}: expected disable, require, verify-ca or verify-full"
            ))
        }
    };
    match (param("sslcert"), param("sslkey")) {
        (Some(cert), Some(key)) => Ok(tls.with_client_cert(
            std::path::PathBuf::from(cert),
            std::path::PathBuf::from(key),
        )),
        (None, None) => Ok(tls),
        _ => Err("source_url: sslcert and sslkey go together".into()),
    }
}

/// The replication session's settings from a `postgres://user:password@host:port/db` URL.
pub(super) fn replication_config(
    url: &str,
    slot: &str,
    publication: &str,
) -> Result<ReplicationConfig, String> {
    let u = url::Url::parse(url).map_err(|e| format!("source_url: {e}"))?;
    let decode =
        |s: &str| percent_decode(s).ok_or_else(|| "source_url: bad percent-encoding".to_owned());
    let host = u.host_str().unwrap_or("127.0.0.1").to_owned();
    let user = decode(u.username())?;
    let password = decode(u.password().unwrap_or(""))?;
    let database = decode(u.path().trim_start_matches('/'))?;
    let tls = replication_tls(&u)?;
    let options = SESSION
        .iter()
        .map(|(k, v)| format!("-c {k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(ReplicationConfig::new(
        host,
        if user.is_empty() {
            "postgres".into()
        } else {
            user
        },
        password,
        if database.is_empty() {
            "postgres".into()
        } else {
            database
        },
        slot,
        publication,
    )
    .with_port(u.port().unwrap_or(5432))
    .with_tls(tls)
    .with_options(options)
    .with_status_interval(Duration::from_secs(1))
    .with_wakeup_interval(Duration::from_secs(5))
    .with_buffer_size(16_384)
    .with_application_name(format!("lienthong {slot}")))
}

pub(super) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
