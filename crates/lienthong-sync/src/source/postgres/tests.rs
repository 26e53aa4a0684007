use super::*;

#[test]
fn positions_round_trip_and_refuse_other_sources() {
    let p = Pos {
        resume: 0x1D9DD30,
        last: (0x1D9DCD0, 7),
    };
    assert_eq!(p.encode(), "0000000001D9DD30/0000000001D9DCD0/00000007");
    assert_eq!(Pos::decode(&p.encode()), Some(p));
    for bad in [
        "",
        "2025-08-01\u{1f}001",
        "snapshot/0000000001D9DD30",
        "1/2/3/4",
    ] {
        assert_eq!(Pos::decode(bad), None, "{bad}");
    }
}

#[test]
fn replication_settings_from_the_url() {
    let c = replication_config("postgres://rep%40x:p%2Fw@db.local:5433/dan_cu", "s", "p").unwrap();
    assert_eq!(
        (
            c.host.as_str(),
            c.port,
            c.user.as_str(),
            c.password.as_str(),
            c.database.as_str()
        ),
        ("db.local", 5433, "rep@x", "p/w", "dan_cu")
    );
    // TLS from libpq's parameters, as the snapshot's connection reads them.
    let tls = |url: &str| replication_config(url, "s", "p").map(|c| c.tls);
    assert!(!tls("postgres://h/d").unwrap().mode.requires_tls());
    assert!(!tls("postgres://h/d?sslmode=prefer")
        .unwrap()
        .mode
        .requires_tls());
    let required = tls("postgres://h/d?sslmode=require").unwrap();
    assert!(required.mode.requires_tls() && !required.mode.verifies_certificate());
    let full =
        tls("postgres://h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem&sslcert=/c&sslkey=/k")
            .unwrap();
    assert!(full.mode.verifies_hostname());
    assert_eq!(
        full.ca_pem_path.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert!(full.is_mtls());
    assert!(tls("postgres://h/d?sslmode=sometimes")
        .unwrap_err()
        .contains("sslmode"));
    assert!(tls("postgres://h/d?sslmode=require&sslcert=/c")
        .unwrap_err()
        .contains("sslkey"));
    assert_eq!(pg_time_ms(0), 946_684_800_000);
}
