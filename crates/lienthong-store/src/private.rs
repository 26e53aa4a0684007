//! Files holding personal data are the owner's only.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Makes `path` the owner's only (0600) before a database opens it: created so when missing
/// (its directory too), tightened when found readable by others. SQLite gives its `-wal` and
/// `-shm` files the database file's mode. Returns whether an existing file was tightened, so
/// that the caller can say so.
pub fn private_file(path: &Path) -> std::io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                return Ok(false);
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The file of a `sqlite://FILE[?…]` (or `sqlite:FILE`) URL; `None` for other databases and
/// for in-memory ones.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or("");
    (!file.is_empty() && !file.starts_with(":memory:")).then(|| PathBuf::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_files_are_created_and_kept_owner_only() {
        let dir = std::env::temp_dir().join(format!("lt-private-{}", std::process::id()));
        let path = dir.join("sub").join("replica.db");
        assert!(!private_file(&path).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(private_file(&path).unwrap(), "tightened");
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            sqlite_file("sqlite:///var/x.db?mode=rwc"),
            Some(PathBuf::from("/var/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
