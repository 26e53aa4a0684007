//! Streaming CSV / JSONL record reader bound to a dataset. Reads from any `BufRead` (the
//! caller opens files), a record or a chunk of records at a time, never the whole input. Header and encoding
//! problems are [`InputError`]s (the input is unusable); a malformed single record is a
//! record-level finding so that the rest of the file is still checked.

use std::io::BufRead;

use crate::catalog::Dataset;
use crate::finding::{Finding, Severity};

mod chunks;

use chunks::Chunker;
pub use chunks::{Chunk, Cursor, Parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// Longest JSONL line read; a longer one is not a record but a broken file.
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// Why an input cannot be validated at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
    #[error("input is empty: no header line")]
    Empty,
    #[error("line {line}: bytes are not valid UTF-8 (convert the file to UTF-8 first)")]
    Encoding { line: u64 },
    #[error("header lacks mandatory column(s) of dataset {dataset}: {columns}")]
    MissingColumns {
        dataset: &'static str,
        columns: String,
    },
    #[error(
        "column(s) not in dataset {dataset}: {columns} (the dataset does not allow extra columns)"
    )]
    UnknownColumns {
        dataset: &'static str,
        columns: String,
    },
    #[error("line {line}: longer than {max} bytes (one JSON object per line expected)")]
    LineTooLong { line: u64, max: usize },
    #[error("header repeats column {column}")]
    DuplicateColumn { column: String },
    #[error("line {line}: CSV syntax error: {message}")]
    Csv { line: u64, message: String },
}

/// One raw record in dataset field order.
#[derive(Debug, Default, Clone)]
pub struct RawRecord {
    /// 1-based record number (data rows only).
    pub record: u64,
    /// 1-based line where the record starts in the file.
    pub line: u64,
    pub values: Vec<String>,
    /// Record-level problems found while reading (wrong field count, bad JSON).
    pub findings: Vec<Finding>,
}

impl RawRecord {
    /// Emptied for a record of `fields` values, its strings kept.
    pub(crate) fn reset(&mut self, fields: usize) {
        self.values.truncate(fields);
        self.values.iter_mut().for_each(String::clear);
        self.values.resize(fields, String::new());
        self.findings.clear();
    }

    pub fn as_strs(&self) -> Vec<&str> {
        self.values.iter().map(String::as_str).collect()
    }
}

/// Maps input columns to dataset fields. Columns the dataset lacks are rejected unless it
/// allows extras; missing optional columns read as empty.
fn column_map(
    dataset: &'static Dataset,
    header: &[String],
) -> Result<(Vec<Option<usize>>, Vec<&'static str>), InputError> {
    let mut map = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut seen = vec![false; dataset.fields.len()];
    for col in header {
        let name = col.trim();
        match dataset.index(name) {
            Some(i) if seen[i] => {
                return Err(InputError::DuplicateColumn {
                    column: name.to_owned(),
                })
            }
            Some(i) => {
                seen[i] = true;
                map.push(Some(i));
            }
            None => {
                unknown.push(name.to_owned());
                map.push(None);
            }
        }
    }
    if !unknown.is_empty() && !dataset.allow_extra {
        return Err(InputError::UnknownColumns {
            dataset: dataset.name,
            columns: unknown.join(", "),
        });
    }
    let missing: Vec<&str> = dataset
        .fields
        .iter()
        .zip(&seen)
        .filter(|(f, s)| f.mandatory && !**s)
        .map(|(f, _)| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(InputError::MissingColumns {
            dataset: dataset.name,
            columns: missing.join(", "),
        });
    }
    let absent = dataset
        .fields
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(f, _)| f.name)
        .collect();
    Ok((map, absent))
}

/// A record source over CSV or JSONL: records one by one ([`Reader::next_into`]), or
/// chunks of whole records ([`Reader::next_chunk`]) for a [`Parser`] to parse on another
/// thread. Either way each record's `line` is the line its first byte is on.
pub struct Reader<R: BufRead> {
    chunker: Chunker<R>,
    parser: Parser,
    /// Optional dataset columns the input does not have (read as empty).
    pub absent_columns: Vec<&'static str>,
    /// Records read one by one: the chunk they come from and where parsing stands in it.
    chunk: Chunk,
    cursor: Cursor,
    record: u64,
}

/// The chunk size when records are read one by one.
const CHUNK_BYTES: usize = 64 << 10;

impl<R: BufRead> Reader<R> {
    pub fn new(input: R, format: Format, dataset: &'static Dataset) -> Result<Self, InputError> {
        let mut chunker = Chunker::new(input, format);
        let mut chunk = Chunk::default();
        let mut cursor = Cursor::new(&chunk);
        let (map, absent_columns) = match format {
            Format::Csv => loop {
                // Blank lines before the header are skipped, however many.
                if !chunker.next(&mut chunk, CHUNK_BYTES)? {
                    return Err(InputError::Empty);
                }
                cursor.restart(&chunk);
                if let Some(names) = Parser::csv_header(&chunk.bytes, &mut cursor)? {
                    break column_map(dataset, &names)?;
                }
            },
            // JSONL has no header: every dataset field may appear; unknown keys are checked per line.
            Format::Jsonl => ((0..dataset.fields.len()).map(Some).collect(), Vec::new()),
        };
        Ok(Reader {
            chunker,
            parser: Parser {
                format,
                dataset,
                map,
            },
            absent_columns,
            chunk,
            cursor,
            record: 0,
        })
    }

    /// Reads the next record into `out`; `Ok(false)` at the end of input. The strings `out`
    /// already holds are emptied and reused (a record read into again allocates nothing
    /// for values that fit).
    pub fn next_into(&mut self, out: &mut RawRecord) -> Result<bool, InputError> {
        loop {
            if self.parser.next(&self.chunk, &mut self.cursor, out)? {
                self.record += 1;
                out.record = self.record;
                return Ok(true);
            }
            if !self.chunker.next(&mut self.chunk, CHUNK_BYTES)? {
                return Ok(false);
            }
            self.cursor.restart(&self.chunk);
        }
    }

    /// Fills `chunk` with the next whole records, about `target` bytes of them, for
    /// [`Reader::parser`]; `Ok(false)` at the end of input.
    pub fn next_chunk(&mut self, chunk: &mut Chunk, target: usize) -> Result<bool, InputError> {
        // What records read one by one (or the header) left of their chunk comes first.
        if self.cursor.pos < self.chunk.bytes.len() {
            chunk.bytes.clear();
            chunk
                .bytes
                .extend_from_slice(&self.chunk.bytes[self.cursor.pos..]);
            chunk.line = self.cursor.line;
            chunk.last = self.chunk.last;
            self.chunk.bytes.clear();
            self.cursor.restart(&self.chunk);
            return Ok(true);
        }
        self.chunker.next(chunk, target)
    }

    /// The parser of this input's chunks (its dataset and columns).
    pub fn parser(&self) -> Parser {
        self.parser.clone()
    }

    /// Records read so far by [`Reader::next_into`].
    pub fn records_read(&self) -> u64 {
        self.record
    }
}

/// The finding for a JSON key the dataset lacks (none when it allows extra fields).
fn unknown_field(key: &str, dataset: &Dataset) -> Option<Finding> {
    (!dataset.allow_extra).then(|| {
        let name: String = key.chars().take(64).collect();
        Finding::new(
            "record",
            "record.unknown_field",
            Severity::Error,
            format!("field {name:?} is not in dataset {}", dataset.name),
        )
    })
}

/// The finding for field `i` given an array or object.
fn not_scalar(dataset: &Dataset, i: usize) -> Finding {
    Finding::new(
        dataset.fields[i].name,
        "record.not_scalar",
        Severity::Error,
        "value is an array or object",
    )
}

/// A JSON object's key, borrowed from the line unless it holds escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Fills `out` from one JSON line; problems with the line are record findings. The line
/// is read as keys and raw values borrowed from it (no tree of values, no string per key),
/// each value copied into the record's buffer; anything unusual — a line that is not an
/// object, a number out of range, a string the fast reading refuses — is read again by
/// [`json_record_general`], which gives the findings and messages.
fn json_record(text: &str, dataset: &'static Dataset, out: &mut RawRecord) {
    use serde_json::value::RawValue;
    // A `BTreeMap`, as `serde_json::Map` is: keys in order, the last of a repeated key kept.
    let Ok(parsed) = serde_json::from_str::<std::collections::BTreeMap<Key, &RawValue>>(text)
    else {
        return json_record_general(text, dataset, out);
    };
    for (key, raw) in &parsed {
        let Some(i) = dataset.index(&key.0) else {
            out.findings.extend(unknown_field(&key.0, dataset));
            continue;
        };
        let raw = raw.get();
        let value = &mut out.values[i];
        value.clear();
        match raw.as_bytes().first() {
            Some(b'"') => match serde_json::from_str::<Key>(raw) {
                Ok(s) => value.push_str(&s.0),
                Err(_) => return json_record_general(text, dataset, out),
            },
            Some(b'n') => {}
            Some(b't') => value.push_str("true"),
            Some(b'f') => value.push_str("false"),
            Some(b'[' | b'{') => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(v) => {
                    value.push_str(&v.to_string());
                    out.findings.push(not_scalar(dataset, i));
                }
                Err(_) => return json_record_general(text, dataset, out),
            },
            _ => match serde_json::from_str::<serde_json::Number>(raw) {
                Ok(n) => value.push_str(&n.to_string()),
                Err(_) => return json_record_general(text, dataset, out),
            },
        }
    }
}

/// [`json_record`] through a `serde_json::Map` of values.
fn json_record_general(text: &str, dataset: &'static Dataset, out: &mut RawRecord) {
    out.values.iter_mut().for_each(String::clear);
    out.findings.clear();
    let parsed: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            out.findings.push(Finding::new(
                "record",
                "record.malformed",
                Severity::Error,
                format!("not a JSON object: {e}"),
            ));
            return;
        }
    };
    for (key, value) in parsed {
        let Some(i) = dataset.index(&key) else {
            out.findings.extend(unknown_field(&key, dataset));
            continue;
        };
        out.values[i] = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            // A number loses leading zeros on the way in; keeping its text lets the ID and
            // code checks report exactly that.
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                out.findings.push(not_scalar(dataset, i));
                other.to_string()
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CITIZEN;

    fn read_all(format: Format, input: &[u8]) -> Result<Vec<RawRecord>, InputError> {
        let mut r = Reader::new(input, format, &CITIZEN)?;
        let mut all = Vec::new();
        let mut rec = RawRecord::default();
        while r.next_into(&mut rec)? {
            all.push(rec.clone());
        }
        Ok(all)
    }

    #[test]
    fn csv_maps_columns_in_any_order() {
        let recs = read_all(Format::Csv, "\u{feff}full_name,personal_id,birth_date,sex,province_code,commune_code\nAn,001090123456,1990,1,01,00004\n".as_bytes()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].values[0], "001090123456");
        assert_eq!(recs[0].values[1], "An");
        assert_eq!((recs[0].record, recs[0].line), (1, 2));
    }

    #[test]
    fn bad_inputs_are_input_errors() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "empty"),
            (b"personal_id,full_name\n1,2\n", "lacks mandatory"),
            (b"personal_id,full_name,birth_date,sex,province_code,commune_code,extra\n", "not in dataset"),
            (b"personal_id,full_name,birth_date,sex,province_code,commune_code\n1,\xff\xfe,3,4,5,6\n", "UTF-8"),
            // A character cut in two by a delimiter, or by a closing quote: each half is invalid.
            (b"personal_id,full_name,birth_date,sex,province_code,commune_code\n1,\xc3,\xa9,4,5,6\n", "UTF-8"),
            (b"personal_id,full_name,birth_date,sex,province_code,commune_code\n1,\"\xc3\",\xa9,4,5,6\n", "UTF-8"),
            (b"personal_id,full_\xc3,\xa9name\n", "UTF-8"),
            (b"personal_id,personal_id\n", "repeats"),
        ];
        for (input, want) in cases {
            let err = read_all(Format::Csv, input).expect_err(want);
            assert!(err.to_string().contains(want), "{err}");
        }
        let long = [
            b"{\"personal_id\":\"".as_slice(),
            &vec![b'1'; LINE_BYTES_MAX],
            b"\"}\n",
        ]
        .concat();
        assert!(matches!(
            read_all(Format::Jsonl, &long),
            Err(InputError::LineTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn the_borrowed_json_reading_gives_what_the_general_one_gives() {
        let lines = [
            r#"{"personal_id": "001090123456", "full_name": "Nguyễn Văn An", "sex": "1"}"#,
            r#"{"full_name": "Nguy\u1ec5n \"An\"\n", "sex": 1, "province_code": 1.50}"#,
            r#"{"sex": "1", "sex": "2", "nope": 1, "also\u0041": [1, {"a": null}]}"#,
            r#"{"personal_id": 1e400}"#,
            r#"{"personal_id": -0, "birth_date": 12345678901234567890123, "sex": true}"#,
            r#"{"address": {"street": "x"}, "phone": [], "email": null, "religion": false}"#,
            r#"{"full_name": "\ud800"}"#,
            r#"{"full_name": "\ud83d\ude00 ok", "\u0073ex": "1"}"#,
            r#"{"a": 1, "b": 2, "personal_id": "1", "zz": [}"#,
            r#"[1, 2]"#,
            r#"{}"#,
            r#"{"personal_id": "x", }"#,
            r#"{"ethnicity": 01}"#,
            r#"{"updated_at": "2025-08-02T11:15:11+07:00", "commune_code": 4}"#,
        ];
        for line in lines {
            let fresh = || RawRecord {
                values: vec![String::new(); CITIZEN.fields.len()],
                ..RawRecord::default()
            };
            let (mut a, mut b) = (fresh(), fresh());
            json_record(line, &CITIZEN, &mut a);
            json_record_general(line, &CITIZEN, &mut b);
            assert_eq!((a.values, a.findings), (b.values, b.findings), "{line}");
        }
    }

    #[test]
    fn blank_lines_before_the_header_are_skipped_however_many() {
        let input = ["\r\n".repeat(100_000).as_str(), "full_name,personal_id,birth_date,sex,province_code,commune_code\nAn,001090123456,1990,1,01,00004\n"].concat();
        let recs = read_all(Format::Csv, input.as_bytes()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].values[1].as_str(), recs[0].line), ("An", 100_002));
        assert!(matches!(
            read_all(Format::Csv, "\n".repeat(100_000).as_bytes()),
            Err(InputError::Empty)
        ));
    }

    #[test]
    fn record_level_problems_are_findings() {
        let recs = read_all(
            Format::Csv,
            b"personal_id,full_name,birth_date,sex,province_code,commune_code\n1,2\n",
        )
        .unwrap();
        assert_eq!(recs[0].findings[0].rule, "record.field_count");
        let recs = read_all(
            Format::Jsonl,
            b"{\"personal_id\": 1090123456, \"nope\": 1}\nnot json\n\n{\"sex\": null}\n",
        )
        .unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].findings[0].rule, "record.unknown_field");
        assert_eq!(recs[0].values[0], "1090123456");
        assert_eq!(recs[1].findings[0].rule, "record.malformed");
        assert_eq!((recs[2].record, recs[2].line), (3, 4));
    }
}
