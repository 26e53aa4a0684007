//! A rows event's values read against its table map once per event.
//!
//! `mysql_common`'s `RowsEvent::rows` builds, for every row image, a column list (the
//! schema, table and column names copied into each column) and reads the table map's
//! optional metadata again; at a backlog's rate that was a tenth of the source's CPU
//! (docs/benchmarks.md, issue 13). Here the column types, metadata and signedness are taken
//! from the table map once per event, and only a row image's framing — the bitmap of NULLs
//! over the columns the image holds — is read by hand; every value is still read by
//! `mysql_common`'s own `BinlogValue` decoder. MySQL's partial JSON updates (a shared
//! image) are read by `mysql_common`'s rows, laid out the same way.

use std::io;

use mysql_common::binlog::events::{OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_common::binlog::row::BinlogRow;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;
use mysql_common::Value;

fn invalid(what: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Per column of the table map: its type, its metadata and whether it is unsigned.
fn layout<'a>(tme: &'a TableMapEvent<'a>) -> io::Result<Vec<(ColumnType, &'a [u8], bool)>> {
    let unsigned: Vec<bool> = {
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())?;
        meta.iter_signedness().collect()
    };
    let mut unsigned = unsigned.into_iter();
    (0..tme.columns_count() as usize)
        .map(|i| {
            let ty = match tme.get_column_type(i) {
                Ok(Some(ty)) => ty,
                Ok(None) => return Err(invalid(format!("no type for column {i}"))),
                Err(e) => return Err(invalid(e)),
            };
            let meta = tme.get_column_metadata(i).unwrap_or(&[]);
            // Signedness is listed for the numeric columns only, in order.
            let is_unsigned = ty.is_numeric_type() && unsigned.next().unwrap_or(false);
            Ok((ty, meta, is_unsigned))
        })
        .collect()
}

/// Reads one row image into `out` (one slot per column of the table: `None` for a column
/// the image does not hold and for SQL NULL).
fn image<'de>(
    columns: &[(ColumnType, &'de [u8], bool)],
    present: &[bool],
    buf: &mut ParseBuf<'de>,
    out: &mut Vec<Option<BinlogValue<'de>>>,
) -> io::Result<()> {
    out.clear();
    let count = present.iter().filter(|p| **p).count();
    let nulls: &[u8] = buf.parse(count.div_ceil(8))?;
    let mut at = 0;
    for (i, &(ty, meta, is_unsigned)) in columns.iter().enumerate() {
        if !present.get(i).copied().unwrap_or(false) {
            out.push(None);
            continue;
        }
        let null = nulls[at / 8] & (1 << (at % 8)) != 0;
        at += 1;
        out.push(if null {
            None
        } else {
            Some(BinlogValue::deserialize(
                (ty, meta, is_unsigned, false),
                buf,
            )?)
        });
    }
    Ok(())
}

/// A row `mysql_common` read (its values those of the columns `present` marks, in order)
/// laid out as [`image`] lays one out.
fn slots(row: BinlogRow, present: &[bool], out: &mut Vec<Option<BinlogValue<'static>>>) {
    let mut values = row.unwrap().into_iter();
    out.clear();
    for &p in present {
        out.push(if p {
            values
                .next()
                .filter(|v| !matches!(v, BinlogValue::Value(Value::NULL)))
        } else {
            None
        });
    }
}

/// Every row of the event: (before image, after image), each through `row` (which takes the
/// image's values, one slot per column of the table, and may move them out).
pub(super) fn decode<'a, T>(
    rows: &'a RowsEventData<'a>,
    tme: &'a TableMapEvent<'a>,
    mut row: impl FnMut(&mut [Option<BinlogValue<'_>>]) -> T,
) -> io::Result<Vec<(Option<T>, Option<T>)>> {
    let before: Option<Vec<bool>> = rows
        .columns_before_image()
        .map(|b| b.iter().by_vals().collect());
    let after: Option<Vec<bool>> = rows
        .columns_after_image()
        .map(|b| b.iter().by_vals().collect());
    if let RowsEventData::PartialUpdateRowsEvent(_) = rows {
        let mut values = Vec::new();
        let mut out = Vec::new();
        for r in rows.rows(tme) {
            let (b, a) = r?;
            let mut one = |image: Option<BinlogRow>, present: &Option<Vec<bool>>| {
                let (image, present) = (image?, present.as_ref()?);
                slots(image, present, &mut values);
                Some(row(&mut values))
            };
            let b = one(b, &before);
            let a = one(a, &after);
            out.push((b, a));
        }
        return Ok(out);
    }
    let columns = layout(tme)?;
    let mut buf = ParseBuf(rows.rows_data());
    let mut values = Vec::with_capacity(columns.len());
    let mut out = Vec::new();
    while !buf.is_empty() {
        let mut one = |present: &Option<Vec<bool>>| -> io::Result<Option<T>> {
            match present {
                Some(present) => {
                    image(&columns, present, &mut buf, &mut values)?;
                    Ok(Some(row(&mut values)))
                }
                None => Ok(None),
            }
        };
        let b = one(&before)?;
        let a = one(&after)?;
        out.push((b, a));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use mysql_async::binlog::events::EventData;
    use mysql_async::prelude::Queryable;

    use super::*;

    /// Every rows event of a table holding each kind of column (signed and unsigned, NULLs,
    /// long strings, JSON), inserted, updated and deleted on the real server, is read
    /// alike by `decode` and by `mysql_common`'s own rows: the same values for every row
    /// image.
    #[tokio::test]
    async fn rows_read_as_mysql_common_reads_them() {
        let Ok(url) = std::env::var("LIENTHONG_TEST_MARIADB_URL") else {
            // The service tests run where it is set (CI always sets it).
            return;
        };
        let opts = mysql_async::Opts::from_url(&url).unwrap();
        let mut conn = mysql_async::Conn::new(opts.clone()).await.unwrap();
        let table = format!("rows_{}", std::process::id());
        let at: mysql_async::Row = conn
            .query_first("SHOW MASTER STATUS")
            .await
            .unwrap()
            .expect("binlog on");
        let (file, pos): (String, u64) = (at.get(0).unwrap(), at.get(1).unwrap());
        conn.query_drop(format!(
            "CREATE TABLE {table} (id INT UNSIGNED PRIMARY KEY, t TINYINT, tu TINYINT UNSIGNED, \
             s SMALLINT, m MEDIUMINT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, \
             n DECIMAL(20,6), dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(3) NULL, y YEAR, \
             c CHAR(10), v VARCHAR(300), tx TEXT, bl BLOB, e ENUM('a','b'), st SET('x','y'), \
             bt BIT(10), j JSON)"
        ))
        .await
        .unwrap();
        let long = "Số 3, Phường Ngọc Hà, ".repeat(40);
        conn.query_drop(format!(
            "INSERT INTO {table} VALUES \
             (1, -128, 255, -32768, 16777215, -9223372036854775808, 18446744073709551615, 1.5, \
              -2.25, -12345678901234.123456, '2000-02-29', '-838:59:59.999', \
              '2024-12-31 23:59:59.123456', '2024-01-01 00:00:00.5', 2155, 'Nguyễn', \
              'Lê Thị Bình', '{long}', X'00ff10', 'b', 'x,y', b'1010101010', '{{\"k\": [1, \"v\"]}}'), \
             (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ))
        .await
        .unwrap();
        conn.query_drop(format!(
            "UPDATE {table} SET v = NULL, t = 7, tx = 'ngắn' WHERE id = 1; \
             UPDATE {table} SET v = 'có', j = '[]' WHERE id = 2; DELETE FROM {table} WHERE id = 1"
        ))
        .await
        .unwrap();
        let end: mysql_async::Row = conn
            .query_first("SHOW MASTER STATUS")
            .await
            .unwrap()
            .unwrap();
        let end: u64 = end.get(1).unwrap();
        conn.query_drop(format!("DROP TABLE {table}"))
            .await
            .unwrap();
        conn.disconnect().await.unwrap();

        let mut stream_conn = mysql_async::Conn::new(opts).await.unwrap();
        stream_conn
            .query_drop("SET @mariadb_slave_capability = 4")
            .await
            .unwrap();
        let req = mysql_async::BinlogStreamRequest::new(4_100_000 + std::process::id() % 100_000)
            .with_filename(file.as_bytes())
            .with_pos(pos);
        let mut stream = stream_conn.get_binlog_stream(req).await.unwrap();
        let (mut images, mut events) = (0, 0);
        while let Some(ev) = stream.next().await {
            let ev = ev.unwrap();
            let done = ev.header().log_pos() as u64 >= end;
            if let Ok(Some(EventData::RowsEvent(rows))) = ev.read_data() {
                let tme = stream.get_tme(rows.table_id()).unwrap();
                if tme.table_name() == table {
                    let ours = decode(&rows, tme, |image| {
                        image.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>()
                    })
                    .unwrap();
                    let theirs: Vec<_> = rows
                        .rows(tme)
                        .map(|r| {
                            let (b, a) = r.unwrap();
                            let text = |r: mysql_async::binlog::row::BinlogRow| {
                                (0..r.len())
                                    .map(|i| {
                                        format!(
                                            "{:?}",
                                            r.as_ref(i).and_then(|v| match v {
                                                BinlogValue::Value(mysql_common::Value::NULL) =>
                                                    None,
                                                v => Some(v),
                                            })
                                        )
                                    })
                                    .collect::<Vec<_>>()
                            };
                            (b.map(text), a.map(text))
                        })
                        .collect();
                    assert_eq!(ours, theirs);
                    events += 1;
                    images += ours
                        .iter()
                        .map(|(b, a)| usize::from(b.is_some()) + usize::from(a.is_some()))
                        .sum::<usize>();
                }
            }
            if done {
                break;
            }
        }
        // Two inserts, two updates (before and after), one delete.
        assert_eq!(images, 2 + 2 * 2 + 1, "{events} rows events");
    }
}
