//! Data for record linkage: a clean register, a dataset holding some people twice (under a
//! new id, with the edits real data shows) and a sector dataset whose records must be
//! linked back to the register. The truth (clusters and true links) goes to `truth.json`.
//!
//! Files: `register.csv` and `people.csv` (dataset `citizen`), `sector.csv` (dataset
//! `social_insurance`), `truth.json`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use lienthong_dictionary::catalog;
use lienthong_dictionary::element::days_in_month;
use lienthong_dictionary::legacy::{tcvn3_encode, vni_encode};
use lienthong_dictionary::units;
use lienthong_dictionary::vn::fold_char;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::people::{self, address, pick, Geo, Person};
use crate::{write_error, SynthError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct LinkageConfig {
    /// People in the register.
    pub people: u64,
    pub seed: u64,
    /// Share of people written twice in `people.csv`.
    pub duplicate_rate: f64,
    /// Share of people with a sector record.
    pub sector_rate: f64,
    /// Share of sector records for people missing from the register.
    pub unregistered_rate: f64,
}

impl LinkageConfig {
    pub fn new(people: u64, seed: u64) -> Self {
        LinkageConfig {
            people,
            seed,
            duplicate_rate: 0.1,
            sector_rate: 0.5,
            unregistered_rate: 0.03,
        }
    }
}

/// Counts of what was written.
#[derive(Debug, Default)]
pub struct LinkageSummary {
    pub register: u64,
    pub people: u64,
    pub duplicates: u64,
    pub sector: u64,
    /// Edits applied, by class.
    pub edits: BTreeMap<&'static str, u64>,
}

/// Removes every diacritic, keeping case ("Đặng Thị" → "Dang Thi").
pub fn deaccent(s: &str) -> String {
    s.chars()
        .map(|c| {
            let f = fold_char(c);
            if c.is_uppercase() {
                f.to_ascii_uppercase()
            } else {
                f
            }
        })
        .collect()
}

const REGIONAL: &[(&str, &str)] = &[
    ("Huỳnh", "Hoàng"),
    ("Hoàng", "Huỳnh"),
    ("Võ", "Vũ"),
    ("Vũ", "Võ"),
];

/// One edit of a name; `None` when the class does not apply to it.
fn edit_name(rng: &mut ChaCha8Rng, name: &str, class: &str) -> Option<String> {
    let words: Vec<&str> = name.split(' ').collect();
    match class {
        "deaccented" => Some(deaccent(name)),
        "tcvn3" => Some(tcvn3_encode(name)).filter(|s| s != name),
        "vni" => Some(vni_encode(name)).filter(|s| s != name),
        "upper_case" => Some(name.to_uppercase()),
        "regional_surname" => REGIONAL.iter().find(|(a, _)| words[0] == *a).map(|(_, b)| {
            std::iter::once(*b)
                .chain(words[1..].iter().copied())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        "middle_dropped" if words.len() >= 3 => {
            Some(format!("{} {}", words[0], words[words.len() - 1]))
        }
        "typo" => {
            // One letter of the given name replaced by a neighbour on the keyboard-ish list.
            let given = words[words.len() - 1];
            let chars: Vec<char> = given.chars().collect();
            if chars.len() < 3 {
                return None;
            }
            let at = rng.gen_range(1..chars.len());
            let repl = *pick(rng, &['a', 'e', 'i', 'o', 'u', 'n', 'h', 't']);
            if chars[at] == repl {
                return None;
            }
            let mut edited = chars.clone();
            edited[at] = repl;
            let mut out: Vec<String> = words[..words.len() - 1]
                .iter()
                .map(|w| (*w).to_owned())
                .collect();
            out.push(edited.into_iter().collect());
            Some(out.join(" "))
        }
        _ => None,
    }
}

/// One edit of a birth date `(y, m, d)`, written as the dictionary accepts it.
fn edit_date(rng: &mut ChaCha8Rng, (y, m, d): (u32, u32, u32), class: &str) -> Option<String> {
    match class {
        "swapped_day_month" if d <= 12 && d != m && m <= days_in_month(y, d) => {
            Some(format!("{y:04}-{d:02}-{m:02}"))
        }
        "year_off_by_one" => {
            let y2 = if rng.gen_bool(0.5) { y + 1 } else { y - 1 };
            (y2 <= 2024 && d <= days_in_month(y2, m)).then(|| format!("{y2:04}-{m:02}-{d:02}"))
        }
        "year_only" => Some(format!("{y:04}")),
        _ => None,
    }
}

fn citizen_row(p: &Person) -> Vec<String> {
    vec![
        p.personal_id.clone(),
        p.full_name.clone(),
        p.birth_iso(),
        p.sex.into(),
        p.ethnicity.into(),
        p.religion.into(),
        "VN".into(),
        p.province.code.clone(),
        p.commune.code.clone(),
        address(&p.street, p.commune),
        p.phone.clone(),
        p.email.clone(),
        "2025-10-01T08:00:00+07:00".into(),
    ]
}

struct Writer {
    csv: csv::Writer<BufWriter<File>>,
    path: std::path::PathBuf,
    records: u64,
}

impl Writer {
    fn open(dir: &Path, name: &str, fields: &[&str]) -> Result<Writer, SynthError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(write_error(&path))?;
        let mut csv = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        csv.write_record(fields)
            .map_err(|e| write_error(&path)(e.into()))?;
        Ok(Writer {
            csv,
            path,
            records: 0,
        })
    }

    fn write(&mut self, values: &[String]) -> Result<u64, SynthError> {
        self.csv
            .write_record(values)
            .map_err(|e| write_error(&self.path)(e.into()))?;
        self.records += 1;
        Ok(self.records)
    }

    fn finish(mut self) -> Result<u64, SynthError> {
        self.csv.flush().map_err(write_error(&self.path))?;
        Ok(self.records)
    }
}

const NAME_EDITS: &[(&str, f64)] = &[
    ("deaccented", 0.25),
    ("tcvn3", 0.05),
    ("vni", 0.05),
    ("upper_case", 0.05),
    ("regional_surname", 0.1),
    ("middle_dropped", 0.05),
    ("typo", 0.1),
];
const DATE_EDITS: &[(&str, f64)] = &[
    ("swapped_day_month", 0.08),
    ("year_off_by_one", 0.04),
    ("year_only", 0.04),
];

/// Applies the name and date edits drawn for one copy; returns the classes applied.
fn edit_identity(
    rng: &mut ChaCha8Rng,
    p: &Person,
    name: &mut String,
    birth: &mut String,
) -> Vec<&'static str> {
    let mut applied = Vec::new();
    for (class, rate) in NAME_EDITS {
        if rng.gen_bool(*rate) {
            if let Some(n) = edit_name(rng, name, class) {
                *name = n;
                applied.push(*class);
                break;
            }
        }
    }
    for (class, rate) in DATE_EDITS {
        if rng.gen_bool(*rate) {
            if let Some(d) = edit_date(rng, p.birth, class) {
                *birth = d;
                applied.push(*class);
                break;
            }
        }
    }
    applied
}

/// Writes the linkage files into `dir`.
pub fn generate_linkage(
    config: &LinkageConfig,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> Result<LinkageSummary, SynthError> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6c69_6e6b);
    let geo = Geo::new();
    let mut used = HashSet::with_capacity(config.people as usize * 2);
    let citizen: Vec<&str> = catalog::CITIZEN.fields.iter().map(|f| f.name).collect();
    let sector_fields: Vec<&str> = catalog::SOCIAL_INSURANCE
        .fields
        .iter()
        .map(|f| f.name)
        .collect();
    let mut register = Writer::open(dir, "register.csv", &citizen)?;
    let mut people = Writer::open(dir, "people.csv", &citizen)?;
    let mut sector = Writer::open(dir, "sector.csv", &sector_fields)?;
    let mut summary = LinkageSummary::default();
    // Pre-2025 communes by the current province their old province became part of.
    let mut old_communes: std::collections::HashMap<String, Vec<&'static units::Commune>> =
        units::current()
            .provinces
            .iter()
            .map(|p| (p.code.clone(), Vec::new()))
            .collect();
    for c in &units::pre_2025().communes {
        if let Some(p) = units::successor_province(&c.province_code) {
            old_communes.entry(p.code.clone()).or_default().push(c);
        }
    }
    let mut clusters: Vec<(u64, u64)> = Vec::new();
    let mut pending: Vec<(u64, u64, Vec<String>)> = Vec::new();
    let mut links: Vec<(u64, String, Option<String>)> = Vec::new();
    let count = |summary: &mut LinkageSummary, classes: &[&'static str]| {
        for c in classes {
            *summary.edits.entry(c).or_default() += 1;
        }
    };
    for n in 1..=config.people {
        let p = people::person(&mut rng, &geo, &mut used);
        let row = citizen_row(&p);
        register.write(&row)?;
        let first = people.write(&row)?;
        if rng.gen_bool(config.duplicate_rate) {
            let mut copy = row.clone();
            let mut classes = Vec::new();
            if rng.gen_bool(0.8) {
                // The same person under a second id (a number re-issued): the same birth
                // province, century, sex and year (`PPP G YY`), new random digits.
                copy[0] = loop {
                    let id = format!("{}{:06}", &p.personal_id[..6], rng.gen_range(0..1_000_000));
                    if used.insert(id.parse().unwrap_or(0)) {
                        break id;
                    }
                };
                classes.push("new_id");
            }
            let (mut name, mut birth) = (copy[1].clone(), copy[2].clone());
            classes.extend(edit_identity(&mut rng, &p, &mut name, &mut birth));
            copy[1] = name;
            copy[2] = birth;
            if rng.gen_bool(0.2) {
                let c = geo.random_commune(&mut rng);
                copy[7] = c.province_code.clone();
                copy[8] = c.code.clone();
                copy[9] = address(&p.street, c);
                classes.push("moved");
            } else if rng.gen_bool(0.1) {
                // An address still written in the units before the 2025 reorganisation: a
                // commune of the old province(s) the person's province was formed from.
                let olds = &old_communes[&p.province.code];
                if !olds.is_empty() {
                    let c = *pick(&mut rng, olds);
                    let old_province = units::pre_2025().province(&c.province_code);
                    copy[7] = c.province_code.clone();
                    copy[8] = c.code.clone();
                    copy[9] = format!(
                        "{}, {}, {}",
                        p.street,
                        c.full_name,
                        old_province.map_or("", |o| o.full_name.as_str())
                    );
                    classes.push("old_units");
                }
            }
            if !copy[10].is_empty() && rng.gen_bool(0.7) {
                copy[10] = format!("0{}{:07}", &copy[10][1..3], rng.gen_range(0..10_000_000));
            }
            count(&mut summary, &classes);
            summary.duplicates += 1;
            pending.push((n + rng.gen_range(1..1000), first, copy));
        }
        pending.sort_by_key(|(at, first, _)| (*at, *first));
        while pending.first().is_some_and(|(at, _, _)| *at <= n) {
            let (_, first, copy) = pending.remove(0);
            let second = people.write(&copy)?;
            clusters.push((first, second));
        }
        // A sector record: mostly registered people, some not in the register at all.
        if rng.gen_bool(config.sector_rate) {
            let unregistered = rng.gen_bool(config.unregistered_rate);
            let q = if unregistered {
                people::person(&mut rng, &geo, &mut used)
            } else {
                p.clone()
            };
            let (mut name, mut birth) = (q.full_name.clone(), q.birth_iso());
            let mut classes = edit_identity(&mut rng, &q, &mut name, &mut birth);
            let mut id = q.personal_id.clone();
            let x: f64 = rng.gen();
            if x < 0.05 {
                id.clear();
                classes.push("missing_id");
            } else if x < 0.08 {
                let at = rng.gen_range(6..12);
                let digit = (id.as_bytes()[at] - b'0' + rng.gen_range(1..10)) % 10;
                id.replace_range(at..=at, &digit.to_string());
                classes.push("wrong_id");
            } else if x < 0.10 {
                id = format!(
                    "{:02}{:07}",
                    rng.gen_range(1..40),
                    rng.gen_range(0..10_000_000)
                );
                classes.push("cmnd_in_id");
            }
            let province = if rng.gen_bool(0.05) {
                classes.push("moved");
                geo.random_commune(&mut rng).province_code.clone()
            } else {
                q.province.code.clone()
            };
            count(&mut summary, &classes);
            let values = vec![
                format!("{}{:08}", &province, n % 100_000_000),
                id,
                name,
                birth,
                pick(&mut rng, crate::EMPLOYERS).to_string(),
                format!("{}", rng.gen_range(4_960..40_000) * 1000),
                "active".into(),
                province,
                "2025-10-01T08:00:00+07:00".into(),
            ];
            let key = values[0].clone();
            let record = sector.write(&values)?;
            links.push((record, key, (!unregistered).then(|| q.personal_id.clone())));
        }
        if n % 10_000 == 0 {
            progress(n);
        }
    }
    pending.sort_by_key(|(at, first, _)| (*at, *first));
    for (_, first, copy) in pending {
        let second = people.write(&copy)?;
        clusters.push((first, second));
    }
    summary.register = register.finish()?;
    summary.people = people.finish()?;
    summary.sector = sector.finish()?;
    clusters.sort_unstable();
    write_truth(config, dir, &summary, &clusters, &links)?;
    progress(config.people);
    Ok(summary)
}

fn write_truth(
    config: &LinkageConfig,
    dir: &Path,
    summary: &LinkageSummary,
    clusters: &[(u64, u64)],
    links: &[(u64, String, Option<String>)],
) -> Result<(), SynthError> {
    let path = dir.join("truth.json");
    let mut w = BufWriter::new(File::create(&path).map_err(write_error(&path))?);
    let head = serde_json::json!({
        "kind": "linkage",
        "seed": config.seed,
        "register": summary.register,
        "people": summary.people,
        "sector": summary.sector,
        "edits": summary.edits,
        "files": {"register": "register.csv", "people": "people.csv", "sector": "sector.csv"},
    })
    .to_string();
    let mut body = String::with_capacity(clusters.len() * 24 + links.len() * 48);
    body.push_str(&head[..head.len() - 1]);
    body.push_str(",\"clusters\":[");
    for (i, (a, b)) in clusters.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("\n[{a},{b}]"));
    }
    body.push_str("],\"links\":[");
    for (i, (record, key, register)) in links.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let register = register
            .as_ref()
            .map_or("null".to_owned(), |r| format!("\"{r}\""));
        body.push_str(&format!(
            "\n{{\"record\":{record},\"key\":\"{key}\",\"register\":{register}}}"
        ));
    }
    body.push_str("]}\n");
    w.write_all(body.as_bytes()).map_err(write_error(&path))?;
    w.flush().map_err(write_error(&path))
}
