//! Sockets a service manager bound for us (systemd socket activation): `LISTEN_FDS` sockets
//! from fd 3 on, named by `LISTEN_FDNAMES` (`FileDescriptorName=` in the socket unit). A
//! registry takes the socket named `registry`; a node the ones named `client`, `peer` and
//! `admin`. A face without one binds the address in its configuration.
//!
//! This lets systemd hold the ports across restarts (no refused connections while a node
//! restarts, no privileges to bind low ports), and lets a caller bind port 0 and learn the
//! port before the process starts (the tests do). `listenfd` reads the environment (and turns
//! each descriptor into a listener); only the names are read here, as systemd defines them.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};

/// The listening sockets passed to this process, by name; empty when none were.
pub(super) fn inherited() -> Result<HashMap<String, std::net::TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(HashMap::new());
    }
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .unwrap_or_default()
        .split(':')
        .map(str::to_owned)
        .collect();
    if names.len() != fds.len() {
        bail!(
            "LISTEN_FDS passes {} sockets but LISTEN_FDNAMES names {} (name each: registry, client, peer, admin)",
            fds.len(),
            names.len()
        );
    }
    let mut out = HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let listener = fds
            .take_tcp_listener(i)
            .with_context(|| format!("socket {name} (fd {}) is not a TCP listener", i + 3))?
            .with_context(|| format!("socket {name} (fd {}) was already taken", i + 3))?;
        if out.insert(name.clone(), listener).is_some() {
            bail!("LISTEN_FDNAMES names {name} twice");
        }
    }
    Ok(out)
}

/// Refuses sockets passed under names nobody took (a typo in the socket unit).
pub(super) fn none_left(
    sockets: HashMap<String, std::net::TcpListener>,
    known: &str,
) -> Result<()> {
    if let Some(name) = sockets.keys().next() {
        bail!("a socket was passed as {name:?}; this command takes {known}");
    }
    Ok(())
}
