//! Seeded synthetic Vietnamese population and sector databases with injected, recorded
//! defects. Deterministic per seed: the same seed and options give byte-identical files.
//!
//! `generate` writes, for each dataset, `NAME.csv` and `NAME.jsonl` (the same records in
//! the same order) and `truth.json` listing every injected defect and duplicate pair.

pub mod encoders;
pub mod linkage;
pub mod noise;
pub mod people;
mod registers;

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_dictionary::codes::ETHNICITY_QD121;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use noise::Draft;
pub use noise::{Defect, Injected};
use people::{address, pick, random_date, Geo, Person, AS_OF};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub citizens: u64,
    pub seed: u64,
    /// Rate per applicable record for each defect class.
    pub rates: Vec<(Defect, f64)>,
}

impl Config {
    pub fn new(citizens: u64, seed: u64) -> Self {
        Config {
            citizens,
            seed,
            rates: Defect::ALL.iter().map(|d| (*d, d.default_rate())).collect(),
        }
    }

    pub fn rate(&self, d: Defect) -> f64 {
        self.rates
            .iter()
            .find(|(x, _)| *x == d)
            .map_or(0.0, |(_, r)| *r)
    }

    pub fn set_rate(&mut self, d: Defect, rate: f64) {
        match self.rates.iter_mut().find(|(x, _)| *x == d) {
            Some(entry) => entry.1 = rate,
            None => self.rates.push((d, rate)),
        }
    }
}

/// A duplicate pair in one dataset: `second` repeats `first` with small edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePair {
    pub dataset: &'static str,
    pub first: u64,
    pub second: u64,
}

/// What was generated: record counts per dataset and the truth.
#[derive(Debug, Default)]
pub struct Summary {
    pub records: Vec<(&'static str, u64)>,
    pub defects: Vec<Injected>,
    pub duplicates: Vec<DuplicatePair>,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct Sink {
    dataset: &'static Dataset,
    csv: csv::Writer<BufWriter<File>>,
    jsonl: BufWriter<File>,
    csv_path: PathBuf,
    jsonl_path: PathBuf,
    records: u64,
}

pub(crate) fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Sink {
    fn open(dir: &Path, dataset: &'static Dataset) -> Result<Sink, SynthError> {
        let csv_path = dir.join(format!("{}.csv", dataset.name));
        let jsonl_path = dir.join(format!("{}.jsonl", dataset.name));
        let csv_file = File::create(&csv_path).map_err(write_error(&csv_path))?;
        let jsonl = BufWriter::with_capacity(
            1 << 20,
            File::create(&jsonl_path).map_err(write_error(&jsonl_path))?,
        );
        let mut csv = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, csv_file));
        csv.write_record(dataset.fields.iter().map(|f| f.name))
            .map_err(|e| write_error(&csv_path)(e.into()))?;
        Ok(Sink {
            dataset,
            csv,
            jsonl,
            csv_path,
            jsonl_path,
            records: 0,
        })
    }

    fn write(&mut self, values: &[String]) -> Result<u64, SynthError> {
        self.csv
            .write_record(values)
            .map_err(|e| write_error(&self.csv_path)(e.into()))?;
        let mut line = String::with_capacity(256);
        line.push('{');
        for (i, (f, v)) in self.dataset.fields.iter().zip(values).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&serde_json::to_string(f.name).unwrap_or_default());
            line.push(':');
            line.push_str(&serde_json::to_string(v).unwrap_or_default());
        }
        line.push_str("}\n");
        self.jsonl
            .write_all(line.as_bytes())
            .map_err(write_error(&self.jsonl_path))?;
        self.records += 1;
        Ok(self.records)
    }

    fn finish(mut self) -> Result<(&'static str, u64), SynthError> {
        self.csv.flush().map_err(write_error(&self.csv_path))?;
        self.jsonl.flush().map_err(write_error(&self.jsonl_path))?;
        Ok((self.dataset.name, self.records))
    }
}

/// The sink of the first of [`registers::DATASETS`].
const REGISTERS_FIRST_SINK: usize = 7;

pub(crate) fn iso((y, m, d): (u32, u32, u32)) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

fn timestamp(rng: &mut ChaCha8Rng) -> String {
    let (y, m, d) = random_date(rng, 2025, 2025, AS_OF);
    let (y, m, d) = if (m, d) < (7, 1) {
        (y, 7 + m % 4, d.min(30))
    } else {
        (y, m, d)
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+07:00",
        rng.gen_range(7..18),
        rng.gen_range(0..60),
        rng.gen_range(0..60)
    )
}

pub(crate) const EMPLOYERS: &[&str] = &[
    "Công ty TNHH Minh Phát",
    "Công ty Cổ phần Đại Việt",
    "Bệnh viện Đa khoa tỉnh",
    "Trường Trung học phổ thông Lê Quý Đôn",
    "Ủy ban nhân dân xã",
    "Công ty TNHH Sản xuất Hòa Bình",
    "Hợp tác xã Nông nghiệp Tân Tiến",
];
const CARD_GROUPS: &[&str] = &["DN", "HC", "HT", "GD", "TE", "HN", "CN", "HS"];
const LAND_USE: &[&str] = &["ODT", "ONT", "LUA", "CLN", "BHK"];

/// Generates every dataset into `dir` and returns the truth. `progress` is called with the
/// number of citizens done, every 10,000 citizens and at the end.
pub fn generate(
    config: &Config,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Summary, SynthError> {
    std::fs::create_dir_all(dir).map_err(|source| SynthError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let geo = Geo::new();
    let mut used_ids = HashSet::with_capacity(config.citizens as usize * 2);
    let datasets: Vec<&'static catalog::Dataset> = [
        &catalog::CITIZEN,
        &catalog::CIVIL_STATUS_EVENT,
        &catalog::SOCIAL_INSURANCE,
        &catalog::HEALTH_INSURANCE,
        &catalog::LAND_PARCEL,
        &catalog::LAND_OWNER,
        &catalog::EDUCATION_ENROLMENT,
    ]
    .into_iter()
    .chain(registers::DATASETS)
    .collect();
    // The registers added later draw from a stream of their own, so that the datasets
    // before them stay, for a seed, what they were.
    let mut rng_registers = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7265_6769_7374_6572);
    let mut register_state = registers::State::default();
    let mut sinks = datasets
        .iter()
        .map(|d| Sink::open(dir, d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = Summary::default();
    let rates: Vec<(Defect, f64)> = config
        .rates
        .iter()
        .copied()
        .filter(|(d, _)| !matches!(d, Defect::Duplicate | Defect::DeceasedActive))
        .collect();
    let mut pending_dupes: Vec<(u64, u64, Vec<String>)> = Vec::new(); // (emit after citizen #, first record, values)
    let mut counter: u64 = 0;
    let mut previous: Option<Person> = None;

    for n in 1..=config.citizens {
        let p = people::person(&mut rng, &geo, &mut used_ids);
        let emit = |sink: usize,
                    draft: &mut Draft<'_>,
                    rng: &mut ChaCha8Rng,
                    summary: &mut Summary,
                    sinks: &mut Vec<Sink>|
         -> Result<u64, SynthError> {
            let record = sinks[sink].records + 1;
            noise::inject(rng, &rates, &geo, draft, record, &mut summary.defects);
            sinks[sink].write(&draft.values)
        };

        // Citizen register.
        let addr = address(&p.street, p.commune);
        let citizen_values = vec![
            p.personal_id.clone(),
            p.full_name.clone(),
            p.birth_iso(),
            p.sex.into(),
            p.ethnicity.into(),
            p.religion.into(),
            "VN".into(),
            p.province.code.clone(),
            p.commune.code.clone(),
            addr.clone(),
            p.phone.clone(),
            p.email.clone(),
            timestamp(&mut rng),
        ];
        let duplicate = rng.gen_bool(config.rate(Defect::Duplicate).min(1.0));
        let mut draft = Draft {
            dataset: &catalog::CITIZEN,
            values: citizen_values.clone(),
            locked: HashSet::new(),
            commune: Some(p.commune),
            street: &p.street,
        };
        if duplicate {
            draft.locked.insert("personal_id");
        }
        let first = emit(0, &mut draft, &mut rng, &mut summary, &mut sinks)?;
        if duplicate {
            let mut copy = citizen_values;
            copy[12] = timestamp(&mut rng);
            if !copy[10].is_empty() {
                copy[10] = format!("0{}{:07}", &copy[10][1..3], rng.gen_range(0..10_000_000));
            }
            pending_dupes.push((n + rng.gen_range(1..50), first, copy));
        }
        let mut i = 0;
        while i < pending_dupes.len() {
            if pending_dupes[i].0 <= n {
                let (_, first, values) = pending_dupes.swap_remove(i);
                let second = sinks[0].write(&values)?;
                summary.duplicates.push(DuplicatePair {
                    dataset: "citizen",
                    first,
                    second,
                });
            } else {
                i += 1;
            }
        }

        // Civil-status events.
        let mut events: Vec<(&str, (u32, u32, u32))> = Vec::new();
        if p.birth.0 >= 2000 {
            events.push(("birth", p.birth));
        }
        if p.age_in(2025) >= 22 && rng.gen_bool(0.25) {
            let y = (p.birth.0 + rng.gen_range(20..35)).min(2025);
            events.push(("marriage", random_date(&mut rng, y, y, AS_OF)));
        }
        if let Some(death) = p.deceased {
            events.push(("death", death));
        }
        for (kind, date) in events {
            counter += 1;
            let values = vec![
                format!("HT{counter:010}"),
                kind.into(),
                p.personal_id.clone(),
                p.full_name.clone(),
                iso(date),
                p.province.code.clone(),
                p.commune.code.clone(),
                timestamp(&mut rng),
            ];
            // A death event is the reference for `deceased_active`: keep it readable.
            let locked = if kind == "death" {
                HashSet::from(["personal_id", "event_type"])
            } else {
                HashSet::new()
            };
            let mut d = Draft {
                dataset: &catalog::CIVIL_STATUS_EVENT,
                values,
                locked,
                commune: None,
                street: "",
            };
            emit(1, &mut d, &mut rng, &mut summary, &mut sinks)?;
        }

        // Social insurance: about 45 % of working-age people.
        let age = p.age_in(2025);
        if (18..=62).contains(&age) && rng.gen_bool(0.45) {
            counter += 1;
            let mut status = *people::weighted(
                &mut rng,
                &[("active", 85.0), ("suspended", 10.0), ("closed", 5.0)],
            );
            let mut stale = false;
            if p.deceased.is_some() {
                stale = rng.gen_bool(config.rate(Defect::DeceasedActive).min(1.0));
                status = if stale { "active" } else { "closed" };
            }
            let values = vec![
                format!("{}{:08}", p.province.code, counter % 100_000_000),
                p.personal_id.clone(),
                p.full_name.clone(),
                p.birth_iso(),
                pick(&mut rng, EMPLOYERS).to_string(),
                format!("{}", rng.gen_range(4_960..40_000) * 1000),
                status.into(),
                p.province.code.clone(),
                timestamp(&mut rng),
            ];
            let mut d = Draft {
                dataset: &catalog::SOCIAL_INSURANCE,
                values,
                locked: HashSet::new(),
                commune: None,
                street: "",
            };
            if stale {
                d.locked.extend(["personal_id", "status"]);
            }
            let record = emit(2, &mut d, &mut rng, &mut summary, &mut sinks)?;
            if stale {
                summary.defects.push(Injected {
                    dataset: "social_insurance",
                    record,
                    field: "status",
                    defect: Defect::DeceasedActive,
                    expected_miss: false,
                });
            }
        }

        // Health insurance: about 90 %.
        if rng.gen_bool(0.9) {
            let label = ETHNICITY_QD121.get(p.ethnicity).map_or("", |c| c.label);
            let values = vec![
                format!(
                    "{}{}{}{}",
                    pick(&mut rng, CARD_GROUPS),
                    rng.gen_range(1..6),
                    p.province.code,
                    &p.personal_id[2..]
                ),
                p.personal_id.clone(),
                p.full_name.clone(),
                p.birth_iso(),
                p.sex.into(),
                p.ethnicity.into(),
                label.into(),
                "2025-01-01".into(),
                "2025-12-31".into(),
                p.province.code.clone(),
            ];
            let mut d = Draft {
                dataset: &catalog::HEALTH_INSURANCE,
                values,
                locked: HashSet::new(),
                commune: None,
                street: "",
            };
            emit(3, &mut d, &mut rng, &mut summary, &mut sinks)?;
        }

        // Land parcels and their holders: about a quarter of adults hold one.
        if age >= 25 && rng.gen_bool(0.25) {
            counter += 1;
            let parcel_id = format!(
                "{}-{}-{}",
                p.commune.code,
                counter / 100_000 + 1,
                counter % 100_000
            );
            let street = format!(
                "Thửa {}, Tờ bản đồ {}",
                counter % 100_000,
                counter / 100_000 + 1
            );
            let values = vec![
                parcel_id.clone(),
                p.province.code.clone(),
                p.commune.code.clone(),
                format!("{:.1}", rng.gen_range(40.0..2000.0)),
                pick(&mut rng, LAND_USE).to_string(),
                address(&street, p.commune),
            ];
            let mut d = Draft {
                dataset: &catalog::LAND_PARCEL,
                values,
                locked: HashSet::new(),
                commune: Some(p.commune),
                street: &street,
            };
            emit(4, &mut d, &mut rng, &mut summary, &mut sinks)?;
            let co_owner = previous
                .as_ref()
                .filter(|q| q.personal_id != p.personal_id && rng.gen_bool(0.4));
            let share = if co_owner.is_some() { "50" } else { "100" };
            let since = iso(random_date(
                &mut rng,
                (p.birth.0 + 20).min(2025),
                2025,
                AS_OF,
            ));
            for owner in std::iter::once(&p).chain(co_owner) {
                let values = vec![
                    parcel_id.clone(),
                    owner.personal_id.clone(),
                    owner.full_name.clone(),
                    share.into(),
                    since.clone(),
                ];
                let mut d = Draft {
                    dataset: &catalog::LAND_OWNER,
                    values,
                    locked: HashSet::new(),
                    commune: None,
                    street: "",
                };
                emit(5, &mut d, &mut rng, &mut summary, &mut sinks)?;
            }
        }

        // The other priority registers, from their own random stream.
        registers::generate(
            &mut rng_registers,
            &p,
            age,
            &mut register_state,
            &mut |sink, draft, rng| {
                emit(
                    REGISTERS_FIRST_SINK + sink,
                    draft,
                    rng,
                    &mut summary,
                    &mut sinks,
                )
            },
        )?;

        // Education: ages 6 to 22.
        if (6..=22).contains(&age) && p.deceased.is_none() && rng.gen_bool(0.9) {
            counter += 1;
            let (level, school) = match age {
                6..=10 => ("primary", "Trường Tiểu học"),
                11..=14 => ("lower_secondary", "Trường Trung học cơ sở"),
                15..=17 => ("upper_secondary", "Trường Trung học phổ thông"),
                _ => ("higher", "Trường Đại học"),
            };
            let values = vec![
                format!("HS{counter:010}"),
                p.personal_id.clone(),
                p.full_name.clone(),
                p.birth_iso(),
                format!("{school} {}", p.commune.name),
                level.into(),
                "2025-2026".into(),
                p.province.code.clone(),
                p.commune.code.clone(),
            ];
            let mut d = Draft {
                dataset: &catalog::EDUCATION_ENROLMENT,
                values,
                locked: HashSet::new(),
                commune: None,
                street: "",
            };
            emit(6, &mut d, &mut rng, &mut summary, &mut sinks)?;
        }

        previous = Some(p);
        if n % 10_000 == 0 {
            progress(n);
        }
    }
    for (_, first, values) in pending_dupes {
        let second = sinks[0].write(&values)?;
        summary.duplicates.push(DuplicatePair {
            dataset: "citizen",
            first,
            second,
        });
    }
    for sink in sinks {
        summary.records.push(sink.finish()?);
    }
    write_truth(config, dir, &summary)?;
    progress(config.citizens);
    Ok(summary)
}

fn write_truth(config: &Config, dir: &Path, summary: &Summary) -> Result<(), SynthError> {
    let path = dir.join("truth.json");
    let err = |source| SynthError::Write {
        path: path.clone(),
        source,
    };
    let mut w = BufWriter::new(File::create(&path).map_err(err)?);
    let rates: serde_json::Map<String, serde_json::Value> = config
        .rates
        .iter()
        .map(|(d, r)| (d.name().to_owned(), (*r).into()))
        .collect();
    let records: serde_json::Map<String, serde_json::Value> = summary
        .records
        .iter()
        .map(|(d, n)| ((*d).to_owned(), (*n).into()))
        .collect();
    let header = serde_json::json!({ "seed": config.seed, "citizens": config.citizens, "rates": rates, "records": records });
    let header = header.to_string();
    // Stream the (possibly large) lists instead of building one JSON value.
    write!(w, "{},\"defects\":[", &header[..header.len() - 1]).map_err(err)?;
    for (i, d) in summary.defects.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let miss = if d.expected_miss {
            ",\"expected_miss\":true"
        } else {
            ""
        };
        write!(
            w,
            "{sep}\n{{\"dataset\":\"{}\",\"record\":{},\"field\":\"{}\",\"defect\":\"{}\"{miss}}}",
            d.dataset,
            d.record,
            d.field,
            d.defect.name()
        )
        .map_err(err)?;
    }
    write!(w, "],\"duplicates\":[").map_err(err)?;
    for (i, d) in summary.duplicates.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        write!(
            w,
            "{sep}\n{{\"dataset\":\"{}\",\"first\":{},\"second\":{}}}",
            d.dataset, d.first, d.second
        )
        .map_err(err)?;
    }
    writeln!(w, "]}}").map_err(err)?;
    w.flush().map_err(err)
}
