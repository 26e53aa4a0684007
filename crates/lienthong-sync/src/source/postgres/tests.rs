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
    assert!(
        replication_config("postgres://h/d?sslmode=require", "s", "p")
            .unwrap_err()
            .contains("TLS")
    );
    assert_eq!(pg_time_ms(0), 946_684_800_000);
}
