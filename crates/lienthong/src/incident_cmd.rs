//! `lienthong incident`: a personal-data breach from discovery to the notice within 72 hours
//! (docs/incidents.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_gateway::incident::{facts, Incident};
use lienthong_gateway::msglog;

#[derive(clap::Subcommand)]
pub enum IncidentCommand {
    /// Record a breach discovered: starts the 72-hour clock; prints its id and deadline.
    #[command(after_long_help = "Example:
  lienthong incident open --db VN_GOV_BCA_DANCU.messages.db --title 'Truy cập bất thường' \\
      --discovered '2026-12-02 09:30' --from '2026-12-01 00:00' --consumer VN/GOV/BHXH/SI")]
    Open {
        /// The node's message log (SQLite file or `postgres://` URL); the incident is kept in it.
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// When it was discovered: `YYYY-MM-DD HH:MM` (Vietnam time) or RFC 3339; default now.
        #[arg(long)]
        discovered: Option<String>,
        /// The exchanges it may concern, from (default: 30 days before discovery)…
        #[arg(long)]
        from: Option<String>,
        /// …to (default: the discovery).
        #[arg(long)]
        to: Option<String>,
        /// Services concerned (ids; repeatable; default all).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Consumers concerned (member ids; repeatable; default all).
        #[arg(long = "consumer")]
        consumers: Vec<String>,
    },
    /// Every incident with the time left to notify.
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// One incident and what the message log says of it, as JSON.
    Show {
        #[arg(long)]
        db: PathBuf,
        id: String,
    },
    /// The notice in Vietnamese, as a printable HTML page.
    Report {
        #[arg(long)]
        db: PathBuf,
        id: String,
        /// The agency sending it, as it signs.
        #[arg(long)]
        agency: String,
        /// The node's member id.
        #[arg(long)]
        member: String,
        /// Who to contact about the breach (name, phone, e-mail).
        #[arg(long)]
        contact: String,
        #[arg(long)]
        html: PathBuf,
    },
    /// Record that the notice was sent (default: now).
    Notified {
        #[arg(long)]
        db: PathBuf,
        id: String,
        #[arg(long)]
        at: Option<String>,
    },
}

fn time(arg: &str, text: &str) -> Result<u64> {
    lienthong_core::time::parse_time(text).with_context(|| {
        format!("--{arg} {text:?}: expected YYYY-MM-DD HH:MM (Vietnam time) or RFC 3339")
    })
}

fn left(i: &Incident, now: u64) -> String {
    if let Some(at) = i.notified_at {
        return format!("notified {}", lienthong_core::vietnam_time(at as i64));
    }
    let r = i.remaining_s(now);
    if r >= 0 {
        format!("{}h{:02} left", r / 3600, r % 3600 / 60)
    } else {
        format!("OVERDUE by {}h{:02}", -r / 3600, -r % 3600 / 60)
    }
}

async fn find(db: &str, id: &str) -> Result<Incident> {
    msglog::incidents(db)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .with_context(|| format!("no incident {id} in {db}"))
}

pub async fn run(command: IncidentCommand) -> Result<ExitCode> {
    let now = lienthong_core::time::now_s();
    match command {
        IncidentCommand::Open {
            db,
            title,
            description,
            discovered,
            from,
            to,
            services,
            consumers,
        } => {
            if title.trim().is_empty() {
                bail!("--title: say what happened");
            }
            let discovered_at = match discovered {
                Some(t) => time("discovered", &t)?,
                None => now,
            };
            if discovered_at > now + 300 {
                bail!("--discovered is in the future");
            }
            let to = match to {
                Some(t) => time("to", &t)?,
                None => discovered_at,
            };
            let from = match from {
                Some(t) => time("from", &t)?,
                None => discovered_at.saturating_sub(30 * 86_400),
            };
            if from > to {
                bail!("--from is after --to");
            }
            for s in &services {
                lienthong_core::ServiceId::parse(s).with_context(|| format!("--service {s}"))?;
            }
            for c in &consumers {
                lienthong_core::MemberId::parse(c).with_context(|| format!("--consumer {c}"))?;
            }
            let incident = msglog::open_incident(
                &db.display().to_string(),
                Incident {
                    id: String::new(),
                    title,
                    description,
                    discovered_at,
                    from,
                    to,
                    services,
                    consumers,
                    status: "open".into(),
                    notified_at: None,
                },
            )
            .await?;
            println!(
                "incident {} opened: discovered {}, notice due by {} ({})",
                incident.id,
                lienthong_core::vietnam_time(incident.discovered_at as i64),
                lienthong_core::vietnam_time(incident.deadline() as i64),
                left(&incident, now)
            );
        }
        IncidentCommand::List { db } => {
            let all = msglog::incidents(&db.display().to_string()).await?;
            if all.is_empty() {
                println!("no incidents");
            }
            for i in all {
                println!(
                    "{}  {}  discovered {}  due {}  {}  {}",
                    i.id,
                    i.status,
                    lienthong_core::vietnam_time(i.discovered_at as i64),
                    lienthong_core::vietnam_time(i.deadline() as i64),
                    left(&i, now),
                    i.title
                );
            }
        }
        IncidentCommand::Show { db, id } => {
            let db = db.display().to_string();
            let i = find(&db, &id).await?;
            let records = msglog::records(&db).await?;
            let f = facts(&i, &records);
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "incident": i,
                    "deadline": i.deadline(),
                    "remaining_s": i.remaining_s(now),
                    "facts": f,
                }))?
            );
        }
        IncidentCommand::Report {
            db,
            id,
            agency,
            member,
            contact,
            html,
        } => {
            let db = db.display().to_string();
            let i = find(&db, &id).await?;
            let records = msglog::records(&db).await?;
            let f = facts(&i, &records);
            let page = lienthong_web::incident::notice_html(
                &i,
                &f,
                &lienthong_web::incident::Sender {
                    agency: &agency,
                    member: &member,
                    contact: &contact,
                },
                now,
            );
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            println!(
                "notice {} written to {}: {} exchanges, {} persons, {} consumers; {}",
                i.id,
                html.display(),
                f.exchanges,
                f.subjects,
                f.consumers.len(),
                left(&i, now)
            );
        }
        IncidentCommand::Notified { db, id, at } => {
            let db = db.display().to_string();
            let mut i = find(&db, &id).await?;
            i.notified_at = Some(match at {
                Some(t) => time("at", &t)?,
                None => now,
            });
            i.status = "notified".into();
            msglog::update_incident(&db, &i).await?;
            println!(
                "incident {} notified at {}",
                i.id,
                lienthong_core::vietnam_time(i.notified_at.unwrap_or(0) as i64)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
