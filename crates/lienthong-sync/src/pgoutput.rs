//! Decoder of PostgreSQL's `pgoutput` logical-replication messages (protocol version 1),
//! the payload of each XLogData frame. Pure: bytes in, messages out, never panics.
//!
//! Written by hand: `pgwire-replication` carries the frames but leaves the payload to the
//! caller, and the format is small and stable (PostgreSQL docs, "Logical Replication
//! Message Formats").

/// One column of a relation as the publisher describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Part of the replica identity (the key sent with updates and deletes).
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
}

/// A column value in a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// An unchanged TOASTed value the publisher did not resend.
    Unchanged,
    /// Text-format value.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        commit_time_us: i64,
        xid: u32,
    },
    Commit {
        commit_lsn: u64,
        end_lsn: u64,
        commit_time_us: i64,
    },
    Relation {
        oid: u32,
        namespace: String,
        name: String,
        /// `d` default (primary key), `n` nothing, `f` full, `i` index.
        replica_identity: u8,
        columns: Vec<Column>,
    },
    Insert {
        oid: u32,
        new: Vec<Datum>,
    },
    Update {
        oid: u32,
        /// The old key (`K`) or the whole old row (`O`) when the publisher sends it.
        old: Option<Vec<Datum>>,
        new: Vec<Datum>,
    },
    Delete {
        oid: u32,
        old: Vec<Datum>,
    },
    Truncate {
        oids: Vec<u32>,
    },
    /// Type, Origin, logical decoding messages: nothing a table replica needs.
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pgoutput message {tag:?}: {what} at byte {at}")]
pub struct DecodeError {
    pub tag: char,
    pub what: &'static str,
    pub at: usize,
}

/// At most this many columns in a tuple (PostgreSQL's own limit is 1,664).
pub const COLUMNS_MAX: usize = 1_664;

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    tag: char,
}

impl<'a> Cursor<'a> {
    fn fail<T>(&self, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError {
            tag: self.tag,
            what,
            at: self.at,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.b.get(self.at..self.at.saturating_add(n)) {
            Some(s) if n <= self.b.len() => {
                self.at += n;
                Ok(s)
            }
            _ => self.fail("truncated"),
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    fn cstr(&mut self) -> Result<String, DecodeError> {
        let rest = &self.b[self.at.min(self.b.len())..];
        let Some(end) = rest.iter().position(|&c| c == 0) else {
            return self.fail("unterminated string");
        };
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| DecodeError {
            tag: self.tag,
            what: "string is not UTF-8",
            at: self.at,
        })?;
        self.at += end + 1;
        Ok(s.to_owned())
    }

    fn tuple(&mut self) -> Result<Vec<Datum>, DecodeError> {
        let n = self.u16()? as usize;
        if n > COLUMNS_MAX {
            return self.fail("too many columns");
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' => {
                    let len = self.u32()? as usize;
                    let bytes = self.take(len)?;
                    match std::str::from_utf8(bytes) {
                        Ok(s) => Datum::Text(s.to_owned()),
                        Err(_) => return self.fail("text value is not UTF-8"),
                    }
                }
                b'b' => return self.fail("binary values are not requested"),
                _ => return self.fail("unknown tuple value kind"),
            });
        }
        Ok(out)
    }

    fn done<T>(&self, m: T) -> Result<T, DecodeError> {
        if self.at == self.b.len() {
            Ok(m)
        } else {
            self.fail("trailing bytes")
        }
    }
}

/// Decodes one pgoutput message.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let Some(&tag) = bytes.first() else {
        return Err(DecodeError {
            tag: '?',
            what: "empty message",
            at: 0,
        });
    };
    let mut c = Cursor {
        b: bytes,
        at: 1,
        tag: tag as char,
    };
    match tag {
        b'B' => {
            let final_lsn = c.u64()?;
            let commit_time_us = c.u64()? as i64;
            let xid = c.u32()?;
            c.done(Message::Begin {
                final_lsn,
                commit_time_us,
                xid,
            })
        }
        b'C' => {
            let _flags = c.u8()?;
            let commit_lsn = c.u64()?;
            let end_lsn = c.u64()?;
            let commit_time_us = c.u64()? as i64;
            c.done(Message::Commit {
                commit_lsn,
                end_lsn,
                commit_time_us,
            })
        }
        b'R' => {
            let oid = c.u32()?;
            let namespace = c.cstr()?;
            let name = c.cstr()?;
            let replica_identity = c.u8()?;
            let n = c.u16()? as usize;
            if n > COLUMNS_MAX {
                return c.fail("too many columns");
            }
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                let flags = c.u8()?;
                let name = c.cstr()?;
                let type_oid = c.u32()?;
                let _typmod = c.u32()?;
                columns.push(Column {
                    key: flags & 1 == 1,
                    name,
                    type_oid,
                });
            }
            c.done(Message::Relation {
                oid,
                namespace,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let oid = c.u32()?;
            if c.u8()? != b'N' {
                return c.fail("expected N");
            }
            let new = c.tuple()?;
            c.done(Message::Insert { oid, new })
        }
        b'U' => {
            let oid = c.u32()?;
            let mut old = None;
            let mut kind = c.u8()?;
            if kind == b'K' || kind == b'O' {
                old = Some(c.tuple()?);
                kind = c.u8()?;
            }
            if kind != b'N' {
                return c.fail("expected N");
            }
            let new = c.tuple()?;
            c.done(Message::Update { oid, old, new })
        }
        b'D' => {
            let oid = c.u32()?;
            match c.u8()? {
                b'K' | b'O' => {}
                _ => return c.fail("expected K or O"),
            }
            let old = c.tuple()?;
            c.done(Message::Delete { oid, old })
        }
        b'T' => {
            let n = c.u32()? as usize;
            let _options = c.u8()?;
            if n > (bytes.len() / 4) {
                return c.fail("relation count exceeds the message");
            }
            let mut oids = Vec::with_capacity(n);
            for _ in 0..n {
                oids.push(c.u32()?);
            }
            c.done(Message::Truncate { oids })
        }
        b'Y' | b'O' | b'M' => Ok(Message::Other(tag)),
        _ => c.fail("unknown message type"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes a tuple the way the walsender does (tests build messages with it).
    pub fn tuple(values: &[Option<&str>]) -> Vec<u8> {
        let mut b = (values.len() as u16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => b.push(b'n'),
                Some(s) => {
                    b.push(b't');
                    b.extend((s.len() as u32).to_be_bytes());
                    b.extend(s.as_bytes());
                }
            }
        }
        b
    }

    #[test]
    fn decodes_what_postgresql_15_sent() {
        // Captured from a PostgreSQL 15 walsender: relation public.scr (id text key, v text)
        // and an insert of ('c', '3').
        let relation = b"R\0\0@\x03public\0scr\0d\0\x02\x01id\0\0\0\0\x19\xff\xff\xff\xff\0v\0\0\0\0\x19\xff\xff\xff\xff";
        assert_eq!(
            decode(relation).unwrap(),
            Message::Relation {
                oid: 16387,
                namespace: "public".into(),
                name: "scr".into(),
                replica_identity: b'd',
                columns: vec![
                    Column {
                        key: true,
                        name: "id".into(),
                        type_oid: 25
                    },
                    Column {
                        key: false,
                        name: "v".into(),
                        type_oid: 25
                    },
                ],
            }
        );
        let insert = b"I\0\0@\x03N\0\x02t\0\0\0\x01ct\0\0\0\x013";
        assert_eq!(
            decode(insert).unwrap(),
            Message::Insert {
                oid: 16387,
                new: vec![Datum::Text("c".into()), Datum::Text("3".into())]
            }
        );
        let delete = b"D\0\0@\x03K\0\x02t\0\0\0\x01an";
        assert_eq!(
            decode(delete).unwrap(),
            Message::Delete {
                oid: 16387,
                old: vec![Datum::Text("a".into()), Datum::Null]
            }
        );
    }

    #[test]
    fn updates_with_and_without_the_old_key() {
        let mut m = b"U\0\0\0\x07N".to_vec();
        m.extend(tuple(&[Some("k"), Some("Việt")]));
        assert_eq!(
            decode(&m).unwrap(),
            Message::Update {
                oid: 7,
                old: None,
                new: vec![Datum::Text("k".into()), Datum::Text("Việt".into())]
            }
        );
        let mut m = b"U\0\0\0\x07K".to_vec();
        m.extend(tuple(&[Some("old"), None]));
        m.push(b'N');
        m.extend(tuple(&[Some("new"), None]));
        let Message::Update { old: Some(old), .. } = decode(&m).unwrap() else {
            panic!("update with old key")
        };
        assert_eq!(old[0], Datum::Text("old".into()));
        let m = b"U\0\0\0\x07N\0\x01u";
        assert!(
            matches!(decode(m).unwrap(), Message::Update { new, .. } if new == [Datum::Unchanged])
        );
    }

    #[test]
    fn truncate_begin_commit() {
        let m = b"T\0\0\0\x02\0\0\0\0\x05\0\0\0\x06";
        assert_eq!(decode(m).unwrap(), Message::Truncate { oids: vec![5, 6] });
        let mut b = vec![b'B'];
        b.extend(10u64.to_be_bytes());
        b.extend(20u64.to_be_bytes());
        b.extend(30u32.to_be_bytes());
        assert_eq!(
            decode(&b).unwrap(),
            Message::Begin {
                final_lsn: 10,
                commit_time_us: 20,
                xid: 30
            }
        );
    }

    #[test]
    fn malformed_messages_are_errors_with_their_place() {
        for (bytes, what) in [
            (&b""[..], "empty message"),
            (b"I\0\0", "truncated"),
            (b"I\0\0\0\x01X", "expected N"),
            (b"I\0\0\0\x01N\0\x01t\xff\xff\xff\xff", "truncated"),
            (
                b"I\0\0\0\x01N\0\x01b\0\0\0\0",
                "binary values are not requested",
            ),
            (b"I\0\0\0\x01N\0\x00!", "trailing bytes"),
            (b"R\0\0\0\x01public", "unterminated string"),
            (b"T\xff\xff\xff\xff\0", "relation count exceeds the message"),
            (b"Z", "unknown message type"),
        ] {
            assert_eq!(decode(bytes).unwrap_err().what, what, "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn text_tuples_round_trip(values in proptest::collection::vec(proptest::option::of(".{0,8}"), 0..6)) {
            let refs: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
            let mut m = b"I\0\0\0\x01N".to_vec();
            m.extend(tuple(&refs));
            let Message::Insert { new, .. } = decode(&m).unwrap() else { panic!("insert") };
            let back: Vec<Option<String>> = new.into_iter().map(|d| match d { Datum::Text(s) => Some(s), _ => None }).collect();
            prop_assert_eq!(back, values);
        }
    }
}
