//! The agreement applied: which agreement holds, which fields a consumer may see, which
//! sub-paths are acceptable, and the projection of records.

use super::*;

pub(super) fn agreement_for<'a>(
    snapshot: &'a crate::snapshot::Installed,
    consumer: &str,
    service: &str,
) -> Option<&'a Agreement> {
    snapshot.agreements(consumer, service).next()
}

pub(super) fn today() -> String {
    lienthong_core::vietnam_date(now_s() as i64)
}

pub(super) fn sensitivity(dataset: &catalog::Dataset, field: &str) -> Sensitivity {
    dataset
        .field(field)
        .and_then(|f| catalog::element(f.element))
        .map_or(Sensitivity::SensitivePersonal, |e| e.sensitivity)
}

pub(super) fn field_allowed(
    agreement: &Agreement,
    field: &str,
    dataset: &catalog::Dataset,
) -> bool {
    agreement.fields.iter().any(|f| f == field)
        || (agreement.fields.iter().any(|f| f == "*")
            && sensitivity(dataset, field) != Sensitivity::SensitivePersonal)
}

/// Whether a path segment could climb out of the service on some backend: at any depth of
/// percent-decoding (a backend or framework may decode twice: `%252e%252e`), a piece between
/// separators (`/`, `\\`, also encoded) that is `.` or `..` once its path parameters are cut
/// (`..;/` is `..` to Tomcat and Spring).
fn escapes(segment: &str) -> bool {
    let mut text = segment.to_owned();
    for _ in 0..3 {
        let decoded = crate::protocol::percent_decode_path(&text);
        let climbs = decoded.split(['/', '\\']).any(|piece| {
            let name = piece.split(';').next().unwrap_or("");
            name == ".." || name == "."
        });
        if climbs {
            return true;
        }
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    // Still encoded after three rounds: nothing a legitimate path needs.
    true
}

/// A sub-path is empty or `/segment[/segment…]` as sent (percent-encoding kept, and passed on
/// so); nothing that could move a proxied request elsewhere is accepted: `@`, `?`, `#`, `\\`
/// or control characters as written, and any segment that [`escapes`] — `..`, `..;x`,
/// `..%2F..`, `%2e%2e%5c`, `%252e%252e`.
pub(super) fn check_sub_path(path: &str) -> Result<(), GatewayError> {
    let bad = || GatewayError::BadRequest("malformed sub-path".into());
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/')
        || path
            .chars()
            .any(|c| c.is_control() || matches!(c, '@' | '?' | '#' | '\\'))
    {
        return Err(bad());
    }
    let traversal = path.split('/').skip(1).any(escapes);
    if traversal {
        return Err(bad());
    }
    Ok(())
}

/// The fields a `fields=a,b` query parameter asks for, if any: each must be a field of the
/// dataset (else `Client.BadRequest`) that the agreement allows (else
/// `Client.FieldNotAllowed`, naming every one withheld).
pub(super) fn selected_fields(
    query: &str,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Result<Option<Vec<String>>, GatewayError> {
    let Some(list) = parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let asked: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if asked.is_empty() {
        return Err(GatewayError::BadRequest(
            "fields= names no field (fields=a,b)".into(),
        ));
    }
    if let Some(unknown) = asked.iter().find(|f| dataset.field(f).is_none()) {
        return Err(GatewayError::BadRequest(format!(
            "{unknown} is not a field of dataset {}",
            dataset.name
        )));
    }
    let withheld: Vec<&str> = asked
        .iter()
        .filter(|f| !field_allowed(agreement, f, dataset))
        .map(String::as_str)
        .collect();
    if !withheld.is_empty() {
        return Err(GatewayError::FieldNotAllowed(withheld.join(", ")));
    }
    Ok(Some(asked))
}

/// Keeps the fields the agreement allows; under `*`, sensitive fields are masked unless named.
pub(super) fn project(
    row: Vec<(&'static str, String)>,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> serde_json::Map<String, serde_json::Value> {
    let all = agreement.fields.iter().any(|f| f == "*");
    row.into_iter()
        .filter_map(|(field, value)| {
            if agreement.fields.iter().any(|f| f == field) {
                Some((field.to_owned(), value.into()))
            } else if all {
                let v = if sensitivity(dataset, field) == Sensitivity::SensitivePersonal {
                    "***".to_owned()
                } else {
                    value
                };
                Some((field.to_owned(), v.into()))
            } else {
                None
            }
        })
        .collect()
}

/// Whether an agreement limits what a REST answer may carry: it names fields, or grants every
/// field (`*`) of a dataset that has sensitive ones (masked then).
pub(super) fn limits_fields(agreement: &Agreement, dataset: &catalog::Dataset) -> bool {
    let all = agreement.fields.iter().any(|f| f == "*");
    let every_named = dataset
        .fields
        .iter()
        .all(|f| agreement.fields.iter().any(|a| a == f.name));
    !every_named
        && (!all
            || dataset
                .fields
                .iter()
                .any(|f| sensitivity(dataset, f.name) == Sensitivity::SensitivePersonal))
}

/// The agreement applied to a JSON answer at every depth: a key that is a dataset field keeps
/// its value when allowed (whatever its JSON type), is masked `***` when it is sensitive under
/// `*`, and is dropped otherwise; any other key keeps only the objects and arrays under it,
/// projected the same way (a value the dictionary does not name is not granted). Arrays keep
/// their objects and arrays, projected.
pub(super) fn project_json(
    value: serde_json::Value,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    let all = agreement.fields.iter().any(|f| f == "*");
    match value {
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| match dataset.field(&k) {
                    Some(f) if agreement.fields.iter().any(|a| a == f.name) => Some((k, v)),
                    Some(f) if all => {
                        if sensitivity(dataset, f.name) == Sensitivity::SensitivePersonal {
                            Some((k, Value::String("***".into())))
                        } else {
                            Some((k, v))
                        }
                    }
                    Some(_) => None,
                    None => project_json(v, agreement, dataset).map(|v| (k, v)),
                })
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .filter_map(|v| project_json(v, agreement, dataset))
                .collect(),
        )),
        _ => None,
    }
}
