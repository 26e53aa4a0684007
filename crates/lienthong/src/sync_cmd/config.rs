//! `sync.toml`: pipelines, sources, replica and JetStream, read and checked in full before
//! anything starts; names derived from a pipeline's (replication slot, server id).

use super::*;

/// `sync.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SyncFile {
    /// The center's replica: `sqlite://FILE?mode=rwc`, `postgres://…` or `mysql://…`.
    pub(super) replica_url: String,
    /// How long a step waits for new changes before it checks again, ms.
    #[serde(default = "d_poll")]
    pub(super) poll_interval_ms: u64,
    #[serde(default)]
    pub(super) jetstream: Option<JetStreamFile>,
    pub(super) pipelines: Vec<PipelineFile>,
}

pub(super) fn d_poll() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JetStreamFile {
    pub(super) url: String,
    #[serde(default = "d_one")]
    pub(super) replicas: usize,
    #[serde(default = "d_window")]
    pub(super) duplicate_window_ms: u64,
    #[serde(default = "d_prefix")]
    pub(super) subject_prefix: String,
    #[serde(default = "d_ack")]
    pub(super) ack_timeout_ms: u64,
    /// TLS: the servers' CA (PEM; the connection must then be TLS), and this process's
    /// client certificate and key for servers that verify clients (paths beside the config).
    #[serde(default)]
    pub(super) tls_ca: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(super) tls_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(super) tls_key: Option<std::path::PathBuf>,
}

pub(super) fn d_one() -> usize {
    1
}

pub(super) fn d_window() -> u64 {
    120_000
}

pub(super) fn d_prefix() -> String {
    "lienthong".into()
}

pub(super) fn d_ack() -> u64 {
    10_000
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    #[default]
    Poll,
    Postgres,
    Mariadb,
    Files,
    Node,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PipelineFile {
    pub(super) name: String,
    pub(super) dataset: String,
    #[serde(default)]
    pub(super) source: Kind,
    #[serde(default)]
    pub(super) source_url: Option<String>,
    #[serde(default)]
    pub(super) source_table: Option<String>,
    #[serde(default = "d_updated")]
    pub(super) updated_at_column: String,
    #[serde(default)]
    pub(super) slot: Option<String>,
    #[serde(default)]
    pub(super) publication: Option<String>,
    #[serde(default)]
    pub(super) server_id: Option<u32>,
    #[serde(default)]
    pub(super) dir: Option<PathBuf>,
    /// node: this agency's node (client face), the provider's service, this agency's
    /// subsystem and the purpose.
    #[serde(default)]
    pub(super) node_url: Option<String>,
    #[serde(default)]
    pub(super) service: Option<String>,
    #[serde(default)]
    pub(super) client: Option<String>,
    #[serde(default)]
    pub(super) purpose: Option<String>,
    #[serde(default)]
    pub(super) replica_table: Option<String>,
    #[serde(default = "d_batch")]
    pub(super) batch_rows_max: u32,
    /// Publish this pipeline's changes to the `[jetstream]` server too.
    #[serde(default)]
    pub(super) jetstream: bool,
    /// Keep valid changes in the replica's change log, for a node to forward (`changes = true`
    /// on its table service).
    #[serde(default)]
    pub(super) changelog: bool,
}

pub(super) fn d_updated() -> String {
    "updated_at".into()
}

pub(super) fn d_batch() -> u32 {
    1000
}

/// `lt_` and the name in lower case with every other character as `_` (slot names).
pub(super) fn slot_name(pipeline: &str) -> String {
    let mut s = String::from("lt_");
    s.extend(pipeline.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    s.truncate(63);
    s
}

/// A replica server id from the pipeline name, above the range servers usually take.
pub(super) fn server_id(pipeline: &str) -> u32 {
    let h = pipeline.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    1_000_000 + h % 1_000_000_000
}

pub(super) struct Config {
    pub(super) replica_url: String,
    pub(super) poll_ms: u64,
    pub(super) pipelines: Vec<PipelineConfig>,
}

pub(super) fn read_config(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: SyncFile =
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
    let at = |name: &str| format!("config {}: pipeline {name}", path.display());
    if file.pipelines.is_empty() {
        bail!("config {}: no [[pipelines]]", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let jet = file.jetstream.map(|j| JetStreamConfig {
        url: j.url,
        replicas: j.replicas,
        duplicate_window_ms: j.duplicate_window_ms,
        subject_prefix: j.subject_prefix,
        ack_timeout_ms: j.ack_timeout_ms,
        tls_ca: j.tls_ca.map(|p| base.join(p)),
        tls_cert: j.tls_cert.map(|p| base.join(p)),
        tls_key: j.tls_key.map(|p| base.join(p)),
    });
    let mut names = std::collections::HashSet::new();
    let mut pipelines = Vec::new();
    for p in file.pipelines {
        if !names.insert(p.name.clone()) {
            bail!(
                "config {}: pipeline {} is listed twice",
                path.display(),
                p.name
            );
        }
        let dataset = lienthong_dictionary::catalog::dataset(&p.dataset)
            .with_context(|| format!("{}: unknown dataset {}", at(&p.name), p.dataset))?;
        let need = |v: Option<String>, what: &str| {
            v.with_context(|| {
                format!(
                    "{}: source = {:?} needs {what}",
                    at(&p.name),
                    kind_name(p.source)
                )
            })
        };
        let source = match p.source {
            Kind::Poll => SourceConfig::Poll {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                updated_at_column: p.updated_at_column.clone(),
            },
            Kind::Postgres => SourceConfig::Postgres {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                slot: p.slot.clone().unwrap_or_else(|| slot_name(&p.name)),
                publication: p.publication.clone().unwrap_or_else(|| slot_name(&p.name)),
            },
            Kind::Mariadb => SourceConfig::MariaDb {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                server_id: p.server_id.unwrap_or_else(|| server_id(&p.name)),
            },
            Kind::Node => SourceConfig::Node {
                node_url: need(p.node_url.clone(), "node_url")?,
                service: need(p.service.clone(), "service")?,
                client: need(p.client.clone(), "client")?,
                purpose: need(p.purpose.clone(), "purpose")?,
            },
            Kind::Files => {
                let dir = p
                    .dir
                    .clone()
                    .with_context(|| format!("{}: source = \"files\" needs dir", at(&p.name)))?;
                SourceConfig::Files {
                    dir: if dir.is_absolute() {
                        dir
                    } else {
                        base.join(dir)
                    },
                }
            }
        };
        if p.jetstream && jet.is_none() {
            bail!(
                "{}: jetstream = true needs a [jetstream] section",
                at(&p.name)
            );
        }
        pipelines.push(PipelineConfig {
            replica_table: p.replica_table.unwrap_or_else(|| dataset.name.to_owned()),
            name: p.name,
            dataset,
            source,
            replica_url: file.replica_url.clone(),
            batch_rows_max: p.batch_rows_max,
            jetstream: if p.jetstream { jet.clone() } else { None },
            changelog: p.changelog,
        });
    }
    Ok(Config {
        replica_url: file.replica_url,
        poll_ms: file.poll_interval_ms.clamp(10, 60_000),
        pipelines,
    })
}

pub(super) fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Poll => "poll",
        Kind::Postgres => "postgres",
        Kind::Mariadb => "mariadb",
        Kind::Files => "files",
        Kind::Node => "node",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_names() {
        assert_eq!(
            super::slot_name("VN/GOV/BCA/DANCU/citizen"),
            "lt_vn_gov_bca_dancu_citizen"
        );
        let id = super::server_id("VN/GOV/BHXH/SI/social_insurance");
        assert!(id > 1_000_000 && id == super::server_id("VN/GOV/BHXH/SI/social_insurance"));
    }
}
