//! `lienthong report monthly`: the program's monthly report from the center's history and
//! the registry's catalogue, as JSON, printable HTML and PDF (headless Chromium's
//! print-to-PDF: a real renderer, the page exactly as the dashboard shows it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// A month's report: per database its road, exchanges, refusals, sync lag and quality
    /// trend; per agency exchanges served and consumed, refusals and downtime; alerts.
    #[command(
        after_long_help = "Examples:\n  lienthong report monthly --month 2026-11 --data-dir demo-data --html report.html --pdf report.pdf\n  lienthong report monthly --month 2026-11 --history postgres://…/center --registry sqlite://registry.db?mode=ro"
    )]
    Monthly {
        /// The month, YYYY-MM (Vietnam time).
        #[arg(long)]
        month: String,
        /// The demo's data directory: its center-history.db and registry.db.
        #[arg(long, conflicts_with_all = ["history", "registry"])]
        data_dir: Option<PathBuf>,
        /// The center's history store (the dashboard's): sqlite://FILE or postgres://….
        #[arg(long, requires = "registry")]
        history: Option<String>,
        /// The registry's content: its store (sqlite://FILE, postgres://…), the latest
        /// version, or a registry TOML file.
        #[arg(long, requires = "history")]
        registry: Option<String>,
        /// Write the JSON here (default: standard output when no other output is asked).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the printable HTML here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Write a PDF here (needs Chromium: `chromium`, or LIENTHONG_CHROMIUM).
        #[arg(long)]
        pdf: Option<PathBuf>,
        /// The report's language.
        #[arg(long, default_value = "vi", value_parser = ["vi", "en"])]
        lang: String,
    },
}

pub async fn run(command: ReportCommand) -> Result<ExitCode> {
    let ReportCommand::Monthly {
        month,
        data_dir,
        history,
        registry,
        json,
        html,
        pdf,
        lang,
    } = command;
    lienthong_web::report::month_bounds(&month).map_err(anyhow::Error::msg)?;
    let (history, registry) = match (data_dir, history, registry) {
        (Some(dir), _, _) => {
            let file = |name: &str| dir.join(name);
            for f in ["center-history.db", "registry.db"] {
                if !file(f).exists() {
                    bail!("{}: no {f} here (run `lienthong demo` first, or give --history and --registry)", dir.display());
                }
            }
            (
                format!("sqlite://{}?mode=rw", file("center-history.db").display()),
                format!("sqlite://{}?mode=ro", file("registry.db").display()),
            )
        }
        (None, Some(h), Some(r)) => (h, r),
        _ => bail!("give --data-dir, or --history and --registry"),
    };
    let content = registry_content(&registry).await?;
    let store = lienthong_web::history::History::open(&history)
        .await
        .map_err(anyhow::Error::msg)?;
    let now = lienthong_core::time::now_s() as i64;
    let report = lienthong_web::report::monthly(&store, &content, &month, now)
        .await
        .map_err(anyhow::Error::msg)?;
    let text = serde_json::to_string_pretty(&report)?;
    if json.is_none() && html.is_none() && pdf.is_none() {
        println!("{text}");
    }
    if let Some(path) = &json {
        std::fs::write(path, format!("{text}\n")).with_context(|| path.display().to_string())?;
    }
    let page = lienthong_web::report::html(&report, lang == "en");
    if let Some(path) = &html {
        std::fs::write(path, &page).with_context(|| path.display().to_string())?;
    }
    if let Some(path) = &pdf {
        print_pdf(&page, path)?;
    }
    for (what, p) in [("JSON", &json), ("HTML", &html), ("PDF", &pdf)] {
        if let Some(p) = p {
            eprintln!("{what} written to {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The registry content: the latest version in a registry store, or a TOML file.
async fn registry_content(location: &str) -> Result<lienthong_registry::Registry> {
    if location.ends_with(".toml") {
        let text = std::fs::read_to_string(location).with_context(|| location.to_owned())?;
        let r: lienthong_registry::Registry =
            toml::from_str(&text).with_context(|| location.to_owned())?;
        r.validate()?;
        return Ok(r);
    }
    let store = lienthong_registry::store::Store::connect(location).await?;
    match store.latest().await? {
        Some((_, r)) => Ok(r),
        None => bail!("{location}: the registry store holds no version yet"),
    }
}

/// Prints `page` to `out` with headless Chromium (`--print-to-pdf`).
fn print_pdf(page: &str, out: &Path) -> Result<()> {
    let chromium = std::env::var_os("LIENTHONG_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|b| which(b))
        })
        .context("--pdf needs headless Chromium: install it (apt-get install chromium) or set LIENTHONG_CHROMIUM")?;
    let dir = tempfile::tempdir()?;
    let html = dir.path().join("report.html");
    std::fs::write(&html, page)?;
    let out_abs = std::path::absolute(out)?;
    let status = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", out_abs.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", chromium.display()))?;
    let made = std::fs::metadata(&out_abs).is_ok_and(|m| m.len() > 0);
    if !status.success() || !made {
        bail!("{} did not print the PDF ({status})", chromium.display());
    }
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}
