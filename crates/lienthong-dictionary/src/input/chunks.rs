//! Input cut into chunks of whole records, and the one record parser. The thread that reads
//! only finds where records end (a scan that jumps between the few bytes that matter); any
//! thread parses a chunk into records, so that on several threads the parsing is spread
//! with the validation and each record's bytes stay in the cache of the thread that checks
//! them. Records read one by one ([`super::Reader::next_into`]) go through the same chunks
//! and the same parser.

use std::io::BufRead;

use super::{json_record, Format, InputError, RawRecord, LINE_BYTES_MAX};
use crate::catalog::Dataset;
use crate::finding::{Finding, Severity};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whole records' bytes and the line they start on.
#[derive(Debug, Default)]
pub struct Chunk {
    pub(super) bytes: Vec<u8>,
    /// 1-based line of the chunk's first byte.
    pub(super) line: u64,
    /// Whether the input ends with this chunk (only then may its last record lack its end).
    pub(super) last: bool,
}

/// Reads an input into chunks that end where a record ends.
pub(super) struct Chunker<R> {
    input: R,
    format: Format,
    /// Bytes read after the last chunk's end: the start of the next record.
    carry: Vec<u8>,
    /// Line of `carry`'s first byte.
    line: u64,
    started: bool,
    eof: bool,
}

impl<R: BufRead> Chunker<R> {
    pub(super) fn new(input: R, format: Format) -> Self {
        Chunker {
            input,
            format,
            carry: Vec::new(),
            line: 1,
            started: false,
            eof: false,
        }
    }

    /// Fills `chunk` with whole records, about `target` bytes of them (more when a record
    /// is longer); `Ok(false)` at the end of input. A UTF-8 byte-order mark at the start of
    /// the input is dropped.
    pub(super) fn next(&mut self, chunk: &mut Chunk, target: usize) -> Result<bool, InputError> {
        let bytes = &mut chunk.bytes;
        bytes.clear();
        bytes.append(&mut self.carry);
        chunk.line = self.line;
        chunk.last = false;
        // At least a byte-order mark's length, so that the first chunk shows whether it has one.
        let mut target = target.max(BOM.len());
        loop {
            while bytes.len() < target && !self.eof {
                let buf = match self.input.fill_buf() {
                    Ok(buf) => buf,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                if buf.is_empty() {
                    self.eof = true;
                    break;
                }
                let n = buf.len().min(target - bytes.len());
                bytes.extend_from_slice(&buf[..n]);
                self.input.consume(n);
            }
            if !self.started {
                self.started = true;
                if bytes.starts_with(BOM) {
                    bytes.drain(..BOM.len());
                }
            }
            if self.eof {
                // The rest of the input, whether or not its last record is terminated.
                chunk.last = true;
                return Ok(!bytes.is_empty());
            }
            let end = match self.format {
                Format::Csv => csv_last_boundary(bytes),
                Format::Jsonl => memchr::memrchr(b'\n', bytes).map(|i| i + 1),
            };
            match end {
                Some(end) => {
                    self.carry.extend_from_slice(&bytes[end..]);
                    self.line = chunk.line + newlines(&bytes[..end]);
                    bytes.truncate(end);
                    return Ok(true);
                }
                // One record longer than the chunk so far: read on.
                None if self.format == Format::Jsonl && bytes.len() > LINE_BYTES_MAX => {
                    return Err(InputError::LineTooLong {
                        line: chunk.line,
                        max: LINE_BYTES_MAX,
                    })
                }
                None => target = target.max(bytes.len()) * 2,
            }
        }
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    // memchr counts with vector instructions.
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The end of the last whole record of `bytes` (which begin where a record begins): the
/// offset just after the last `\r` or `\n` outside quotes, in the dialect of
/// [`Cursor::csv_fields`]. The reading thread's whole share of the parsing: it visits only
/// quotes and line ends (checked against the csv crate on random inputs in the tests).
pub(super) fn csv_last_boundary(bytes: &[u8]) -> Option<usize> {
    let mut last = None;
    let mut i = 0;
    loop {
        // Outside quotes.
        let Some(j) = memchr::memchr3(b'"', b'\n', b'\r', &bytes[i..]) else {
            return last;
        };
        let j = i + j;
        if bytes[j] != b'"' {
            last = Some(j + 1);
            i = j + 1;
            continue;
        }
        if j > 0 && !matches!(bytes[j - 1], b',' | b'\n' | b'\r') {
            i = j + 1;
            continue;
        }
        // Inside quotes, up to a single `"`.
        let mut k = j + 1;
        loop {
            let Some(q) = memchr::memchr(b'"', &bytes[k..]) else {
                return last;
            };
            let q = k + q;
            match bytes.get(q + 1) {
                Some(b'"') => k = q + 2,
                Some(_) => {
                    i = q + 1;
                    break;
                }
                None => return last,
            }
        }
    }
}

/// Parses records of one dataset from chunks, on any thread.
#[derive(Clone)]
pub struct Parser {
    pub(super) format: Format,
    pub(super) dataset: &'static Dataset,
    /// Input column → dataset field (CSV).
    pub(super) map: Vec<Option<usize>>,
}

/// Where the parsing of one chunk stands ([`Parser::cursor`]).
pub struct Cursor {
    pub(super) pos: usize,
    pub(super) line: u64,
    /// Records parsed from the chunk so far.
    record: u64,
    /// Whether the input ends with the chunk.
    last: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Cursor {
    pub(super) fn new(chunk: &Chunk) -> Self {
        Cursor {
            pos: 0,
            line: chunk.line,
            record: 0,
            last: chunk.last,
            out: Vec::new(),
            ends: Vec::new(),
        }
    }

    pub(super) fn restart(&mut self, chunk: &Chunk) {
        self.pos = 0;
        self.line = chunk.line;
        self.record = 0;
        self.last = chunk.last;
    }

    /// Reads the next CSV record's fields into `out` (the fields' bytes, unquoted) and
    /// `ends` (where each ends); the line it begins on, or `None` at the end of `bytes`.
    ///
    /// The dialect is csv-core's default, as the csv crate reads it (`,` between fields; a
    /// `"` that opens a field quotes it up to the next single `"`, a doubled one being a
    /// `"` of the value, and bytes after the closing quote up to the next delimiter belong
    /// to the field; a `"` anywhere else is data; `\r`, `\n` or `\r\n` end a record; blank
    /// lines are no records). Written here rather than with csv-core, which steps through
    /// its state machine one byte at a time: this jumps from delimiter to delimiter with
    /// memchr (13 % of the instructions per row before). The tests compare it with the csv
    /// crate on tricky and random inputs.
    fn csv_fields(&mut self, bytes: &[u8]) -> Result<Option<u64>, InputError> {
        // Skipping blank lines here gives each record the line its first byte is on.
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if self.pos == bytes.len() {
            return Ok(None);
        }
        let line = self.line;
        self.out.clear();
        self.ends.clear();
        let mut i = self.pos;
        loop {
            // At the start of a field.
            if bytes.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    let Some(q) = memchr::memchr(b'"', &bytes[i..]) else {
                        // The input ends inside the quotes: the value is what is there.
                        self.line += newlines(&bytes[i..]);
                        self.out.extend_from_slice(&bytes[i..]);
                        i = bytes.len();
                        break;
                    };
                    let quoted = &bytes[i..i + q];
                    self.line += newlines(quoted);
                    self.out.extend_from_slice(quoted);
                    i += q + 1;
                    if bytes.get(i) != Some(&b'"') {
                        break;
                    }
                    self.out.push(b'"');
                    i += 1;
                }
            }
            // Unquoted, or what follows a closing quote: up to a delimiter.
            let Some(d) = memchr::memchr3(b',', b'\n', b'\r', &bytes[i..]) else {
                // The end of the chunk ends the record: only the input's last may end so.
                if !self.last {
                    return Err(InputError::Csv {
                        line,
                        message: "internal error: input cut inside a record \
                                  (please report it with the file)"
                            .into(),
                    });
                }
                self.out.extend_from_slice(&bytes[i..]);
                self.ends.push(self.out.len());
                i = bytes.len();
                break;
            };
            self.out.extend_from_slice(&bytes[i..i + d]);
            self.ends.push(self.out.len());
            i += d + 1;
            match bytes[i - 1] {
                b',' => {}
                b'\n' => {
                    self.line += 1;
                    break;
                }
                // `\r`: a `\n` after it is skipped as a blank line.
                _ => break,
            }
        }
        self.pos = i;
        Ok(Some(line))
    }

    /// The fields [`Cursor::csv_fields`] read, as text, and where each ends. One UTF-8
    /// check over them all, not one per field; a field is valid too if it ends where a
    /// character does (a delimiter or a quote may have cut one in two).
    fn fields_text(&self, line: u64) -> Result<(&str, &[usize]), InputError> {
        let ends = &self.ends[..];
        simdutf8::basic::from_utf8(&self.out)
            .ok()
            .filter(|text| ends.iter().all(|&end| text.is_char_boundary(end)))
            .map(|text| (text, ends))
            .ok_or(InputError::Encoding { line })
    }
}

impl Parser {
    /// A cursor at the start of `chunk`, for [`Parser::next`].
    pub fn cursor(&self, chunk: &Chunk) -> Cursor {
        Cursor::new(chunk)
    }

    /// The next record of `chunk` from `cursor` (made for it) into `out`, numbered from 1
    /// within the chunk; `Ok(false)` at its end.
    pub fn next(
        &self,
        chunk: &Chunk,
        cursor: &mut Cursor,
        out: &mut RawRecord,
    ) -> Result<bool, InputError> {
        let bytes = &chunk.bytes;
        match self.format {
            Format::Csv => self.next_csv(bytes, cursor, out),
            Format::Jsonl => self.next_jsonl(bytes, cursor, out),
        }
    }

    fn next_csv(
        &self,
        bytes: &[u8],
        cursor: &mut Cursor,
        out: &mut RawRecord,
    ) -> Result<bool, InputError> {
        let Some(line) = cursor.csv_fields(bytes)? else {
            return Ok(false);
        };
        let (text, ends) = cursor.fields_text(line)?;
        let endlen = ends.len();
        out.reset(self.dataset.fields.len());
        out.record = cursor.record + 1;
        out.line = line;
        if endlen != self.map.len() {
            out.findings.push(Finding::new(
                "record",
                "record.field_count",
                Severity::Error,
                format!("{endlen} fields, header has {}", self.map.len()),
            ));
        }
        let mut from = 0;
        for (target, &end) in self.map.iter().zip(ends) {
            if let Some(t) = target {
                out.values[*t].push_str(&text[from..end]);
            }
            from = end;
        }
        cursor.record += 1;
        Ok(true)
    }

    fn next_jsonl(
        &self,
        bytes: &[u8],
        cursor: &mut Cursor,
        out: &mut RawRecord,
    ) -> Result<bool, InputError> {
        while cursor.pos < bytes.len() {
            let rest = &bytes[cursor.pos..];
            let (len, newline) = match memchr::memchr(b'\n', rest) {
                Some(i) => (i, 1),
                None => (rest.len(), 0),
            };
            let line = cursor.line;
            cursor.pos += len + newline;
            cursor.line += newline as u64;
            if len + newline > LINE_BYTES_MAX {
                return Err(InputError::LineTooLong {
                    line,
                    max: LINE_BYTES_MAX,
                });
            }
            let text = simdutf8::basic::from_utf8(&rest[..len])
                .map_err(|_| InputError::Encoding { line })?
                .trim();
            if text.is_empty() {
                continue;
            }
            out.reset(self.dataset.fields.len());
            cursor.record += 1;
            out.record = cursor.record;
            out.line = line;
            json_record(text, self.dataset, out);
            return Ok(true);
        }
        Ok(false)
    }

    /// The header's column names, from the first record of `bytes`.
    /// `None` when the chunk holds only blank lines.
    pub(super) fn csv_header(
        bytes: &[u8],
        cursor: &mut Cursor,
    ) -> Result<Option<Vec<String>>, InputError> {
        let Some(line) = cursor.csv_fields(bytes)? else {
            return Ok(None);
        };
        let (text, ends) = cursor.fields_text(line)?;
        let mut from = 0;
        let names: Vec<String> = ends
            .iter()
            .map(|&end| {
                let name = text[from..end].to_owned();
                from = end;
                name
            })
            .collect();
        if names.is_empty() || (names.len() == 1 && names[0].is_empty()) {
            return Err(InputError::Empty);
        }
        Ok(Some(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records as the line each begins on and its fields' bytes.
    type Records = Vec<(u64, Vec<Vec<u8>>)>;

    /// Every record's fields and the line its first byte is on, as the csv crate reads
    /// `input` (the reference).
    fn by_csv(input: &[u8]) -> Records {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(input);
        let body = input.strip_prefix(BOM).map_or(0, |_| BOM.len());
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap() {
            // The csv crate's position is where the record's read began: skip the line
            // ends it skipped to find the record's first byte.
            let mut at = (rec.position().unwrap().byte() as usize).max(body);
            while matches!(input.get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            let line = 1 + newlines(&input[..at]);
            out.push((line, rec.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    /// The same through chunks of about `target` bytes.
    fn by_chunks(input: &[u8], target: usize) -> Result<Records, InputError> {
        let mut chunker = Chunker::new(input, Format::Csv);
        let mut chunk = Chunk::default();
        let mut out = Vec::new();
        while chunker.next(&mut chunk, target)? {
            let mut cursor = Cursor::new(&chunk);
            while let Some(line) = cursor.csv_fields(&chunk.bytes)? {
                let mut from = 0;
                let fields = cursor
                    .ends
                    .iter()
                    .map(|&end| {
                        let f = cursor.out[from..end].to_vec();
                        from = end;
                        f
                    })
                    .collect();
                assert_eq!(cursor.out.len(), from);
                out.push((line, fields));
            }
        }
        Ok(out)
    }

    #[test]
    fn chunks_read_what_the_csv_crate_reads_on_tricky_inputs() {
        let cases: &[&[u8]] = &[
            b"",
            b"a",
            b"a,b\nc,d",
            b"a,b\r\nc,d\r\n",
            b"a\rb\rc",
            b"\n\n a \n\r\n\rb\n",
            b"\"a\nb\",c\n\"d\"\"e\",f\n",
            b"ab\"c\n\"x\ny\"\n",
            b"\"a\"x\"y\nz\n",
            b"\"unterminated\nquote,\n",
            b"\xEF\xBB\xBF\"x\",y\n\xEF\xBB\xBFz\n",
            b"a,\"\"\n\"\",b\n,\n",
            "Nguyễn,\"Số 1, phố Huế\"\r\nLê,\"Đường \"\"A\"\"\"\r\n".as_bytes(),
        ];
        for input in cases {
            let want = by_csv(input);
            for target in [1, 2, 3, 5, 8, 64, 1 << 16] {
                let got = by_chunks(input, target).unwrap();
                assert_eq!(
                    got,
                    want,
                    "{:?} in chunks of {target}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    proptest! {
        #[test]
        fn chunks_read_what_the_csv_crate_reads(
            input in proptest::collection::vec(
                prop_oneof![
                    Just(b'a'), Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), Just(b' '),
                ],
                0..120,
            ),
            target in 1usize..48,
        ) {
            prop_assert_eq!(by_chunks(&input, target).unwrap(), by_csv(&input));
        }
    }

    #[test]
    fn jsonl_chunks_end_at_line_ends_and_long_lines_are_refused() {
        let input = b"{\"a\": 1}\n\n{\"b\": \"x\ny\"}\r\n{}";
        let mut chunker = Chunker::new(&input[..], Format::Jsonl);
        let mut chunk = Chunk::default();
        let mut seen = Vec::new();
        while chunker.next(&mut chunk, 4).unwrap() {
            assert!(chunk.last || chunk.bytes.ends_with(b"\n"));
            assert_eq!(chunk.line, 1 + newlines(&seen), "{seen:?}");
            seen.extend_from_slice(&chunk.bytes);
        }
        assert_eq!(seen, input.to_vec());

        // A line too long is refused with its number, whether the chunker meets it (it
        // grows past the limit without a line end) or the parser does.
        let spaces = vec![b' '; LINE_BYTES_MAX + 1];
        for tail in [&b""[..], b"\n{}\n", &[b' '; LINE_BYTES_MAX * 2]] {
            let input = [b"{}\n\n".as_slice(), &spaces, tail].concat();
            let mut reader =
                super::super::Reader::new(&input[..], Format::Jsonl, &crate::catalog::CITIZEN)
                    .unwrap();
            let mut rec = RawRecord::default();
            assert!(reader.next_into(&mut rec).unwrap());
            let got = reader.next_into(&mut rec);
            assert!(
                matches!(got, Err(InputError::LineTooLong { line: 3, .. })),
                "{} bytes after: {got:?}",
                tail.len()
            );
        }
        // At the limit, read.
        let input = [b"{}\n".as_slice(), &spaces[2..], b"\n{}"].concat();
        let mut reader =
            super::super::Reader::new(&input[..], Format::Jsonl, &crate::catalog::CITIZEN).unwrap();
        let mut rec = RawRecord::default();
        assert!(reader.next_into(&mut rec).unwrap());
        assert!(reader.next_into(&mut rec).unwrap());
        assert_eq!(rec.line, 3);
        assert!(!reader.next_into(&mut rec).unwrap());
    }
}
