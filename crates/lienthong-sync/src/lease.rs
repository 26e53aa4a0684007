//! One process at a time per pipeline. Two `sync run`s of the same pipeline would move its
//! position back and forth and apply or publish changes twice, so a pipeline holds a lease
//! row in its replica: claimed at open, renewed — and checked — inside every commit (a
//! process that lost its lease commits nothing), released at close. The lease of a holder
//! that died on this host is taken over at once (a restart after a crash does not wait);
//! one held from another host only once it has expired.

/// How long a lease lasts without a commit or a renewal.
pub const LEASE_MS: i64 = 30_000;

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// This process's owner id: `host:pid:random` (random: two pipelines objects of one
/// process are two owners).
pub fn owner_id() -> String {
    format!(
        "{}:{}:{}",
        this_host(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Whether `owner` names a process on this host that no longer runs. Only where `/proc`
/// tells (Linux); elsewhere a holder is never presumed gone before its lease expires.
pub fn holder_is_gone(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == this_host()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_of_this_host_are_gone_only_when_their_process_is() {
        let me = owner_id();
        assert!(!holder_is_gone(&me), "this process runs");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(holder_is_gone(&format!("{}:{pid}:abcd", this_host())));
        assert!(!holder_is_gone(&format!("elsewhere:{pid}:abcd")));
        assert!(!holder_is_gone("malformed"));
        assert!(!holder_is_gone(&format!("{}:notapid:x", this_host())));
    }
}
