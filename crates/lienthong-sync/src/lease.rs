//! One process at a time per pipeline. Two `sync run`s of the same pipeline would move its
//! position back and forth and apply or publish changes twice, so a pipeline holds a lease
//! row in its replica: claimed at open, renewed by a task of its own while the pipeline
//! lives, checked inside every commit (a process that lost its lease commits nothing),
//! released at close. The lease of a holder that died on this machine is taken over at once
//! (a restart after a crash does not wait); any other only once it has expired.

/// How long a lease lasts without a renewal; renewed every third of it.
pub const LEASE_MS: i64 = 30_000;

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn this_host() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
        .replace(':', "_")
}

/// The machine's boot and the PID namespace, as far as `/proc` tells: a process can judge
/// another gone only when both are its own (containers share hostnames and reuse pids).
fn machine_view() -> String {
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_else(|| "?".into());
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let boot: String = boot
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    let ns: String = ns.chars().filter(char::is_ascii_digit).collect();
    format!(
        "{}-{}",
        if boot.is_empty() { "?" } else { &boot },
        if ns.is_empty() { "?" } else { &ns }
    )
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// This process's owner id: `host:pid:start:boot-pidns:random` (random: two pipeline
/// objects of one process are two owners).
pub fn owner_id() -> String {
    owner_id_for(std::process::id())
}

/// The owner id a process `pid` of this machine would have (the pid's start time is read
/// now).
pub fn owner_id_for(pid: u32) -> String {
    format!(
        "{}:{pid}:{}:{}:{}",
        this_host(),
        start_time(pid).unwrap_or_else(|| "?".into()),
        machine_view(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Whether `owner` names a process of this machine (same host, boot and PID namespace)
/// that no longer runs: its pid is absent or now belongs to a process started at another
/// time. Anything unknown means "not gone": the lease is then waited out.
pub fn holder_is_gone(owner: &str) -> bool {
    let parts: Vec<&str> = owner.split(':').collect();
    let [host, pid, start, view, _] = parts[..] else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let view_here = machine_view();
    if host != this_host() || start == "?" || view.contains('?') || view != view_here {
        return false;
    }
    match start_time(pid) {
        None => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        Some(now) => now != start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_of_this_machine_are_gone_only_when_their_process_is() {
        let me = owner_id();
        assert!(!holder_is_gone(&me), "this process runs: {me}");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = start_time(pid).expect("a running child has a start time");
        child.kill().unwrap();
        child.wait().unwrap();
        let rest = |pid: u32, start: &str| {
            format!("{}:{pid}:{start}:{}:abcd", this_host(), machine_view())
        };
        assert!(holder_is_gone(&rest(pid, &start)), "an exited process");
        // Our own pid, but another start time: the pid was reused.
        let me_pid = std::process::id();
        assert!(holder_is_gone(&rest(me_pid, "1")));
        assert!(!holder_is_gone(&format!(
            "elsewhere:{pid}:{start}:{}:abcd",
            machine_view()
        )));
        assert!(!holder_is_gone(&format!(
            "{}:{pid}:{start}:other-boot:abcd",
            this_host()
        )));
        assert!(!holder_is_gone("malformed"));
        assert!(!holder_is_gone(&format!(
            "{}:notapid:1:{}:x",
            this_host(),
            machine_view()
        )));
        assert!(!holder_is_gone(&format!(
            "{}:{pid}:?:{}:x",
            this_host(),
            machine_view()
        )));
    }
}
