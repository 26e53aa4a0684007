//! `lienthong keys …`, `lienthong registry run`, `lienthong node run`: reads the TOML
//! configuration (the wire format of config lives here, at the edge), validates all of it
//! before starting, and hands typed configuration to the registry and gateway crates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_core::MemberId;
use lienthong_gateway::backend::TableConfig;
use lienthong_gateway::node::{self, NodeConfig};
use lienthong_registry::Registry;
use lienthong_trust::{Ca, SigningKey};
use serde::{Deserialize, Serialize};

mod keys;
mod log;
mod node_run;
mod registry;
mod sockets;

pub use keys::*;
pub use log::*;
pub use node_run::*;
pub use registry::*;

pub(crate) fn write_new(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Keys are private: a directory made for them is the owner's only (0700), each file is
    // created once (never overwritten) and readable by the owner only (0600).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "{} already exists or cannot be created; refusing to overwrite a key",
                path.display()
            )
        })?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub(super) fn relative(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

pub(super) fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    toml::from_str(&read(path)?).with_context(|| format!("config {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("member/keys/signing.key");
        super::write_new(&key, "secret").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(key.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("member")), 0o700);
        assert!(
            super::write_new(&key, "other").is_err(),
            "never overwritten"
        );
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "secret");
    }
}
