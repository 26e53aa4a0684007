//! Exports: JSON Schema 2020-12 per dataset and an OpenAPI 3.1 components document. The
//! schemas describe the *normalised* record (what leaves the validator).

use serde_json::{json, Map, Value};

use crate::catalog::{element, Dataset, DATASETS};
use crate::codes;
use crate::element::{Charset, Element, FieldOpts, Kind};
use crate::units;

fn field_schema(el: &Element, opts: &FieldOpts) -> Value {
    let mut s = Map::new();
    s.insert("type".into(), el.kind.json_type().into());
    s.insert("title".into(), el.label_vi.into());
    s.insert(
        "description".into(),
        format!("{} ({})", el.label_en, el.format).into(),
    );
    let codes_of =
        |sys: &codes::CodeSystem| Value::from(sys.codes.iter().map(|c| c.code).collect::<Vec<_>>());
    match el.kind {
        Kind::PersonalId => {
            s.insert("pattern".into(), "^[0-9]{12}$".into());
        }
        Kind::OldId => {
            s.insert("pattern".into(), "^[0-9]{9}$".into());
        }
        Kind::Date { year_only: true } => {
            s.insert("pattern".into(), "^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$".into());
        }
        Kind::Date { year_only: false } => {
            s.insert("format".into(), "date".into());
        }
        Kind::Timestamp => {
            s.insert("format".into(), "date-time".into());
        }
        Kind::Coded(sys) => {
            s.insert("enum".into(), codes_of(sys));
        }
        Kind::Ethnicity => {
            s.insert("enum".into(), codes_of(opts.ethnicity));
        }
        Kind::Religion => {
            let mut v: Vec<&str> = codes::RELIGION_QCVN109
                .codes
                .iter()
                .map(|c| c.code)
                .collect();
            v.push("");
            s.insert("enum".into(), v.into());
        }
        Kind::Nationality => {
            s.insert(
                "enum".into(),
                codes::iso_alpha2_codes().collect::<Vec<_>>().into(),
            );
        }
        Kind::ProvinceCode => {
            s.insert(
                "enum".into(),
                units::current()
                    .provinces
                    .iter()
                    .map(|p| p.code.as_str())
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        Kind::CommuneCode => {
            s.insert("pattern".into(), "^[0-9]{5}$".into());
        }
        Kind::Phone => {
            s.insert("pattern".into(), "^\\+84[0-9]{9,10}$".into());
        }
        Kind::Email => {
            s.insert("format".into(), "email".into());
        }
        Kind::AmountVnd => {
            s.insert("pattern".into(), "^[0-9]+$".into());
        }
        Kind::LandParcelId => {
            s.insert("pattern".into(), "^[0-9]{5}-[0-9]{1,4}-[0-9]{1,5}$".into());
        }
        Kind::TaxCode => {
            s.insert(
                "pattern".into(),
                "^([0-9]{10}(-[0-9]{3})?|[0-9]{12})$".into(),
            );
        }
        Kind::CasNumber => {
            s.insert("pattern".into(), "^[1-9][0-9]{1,6}-[0-9]{2}-[0-9]$".into());
        }
        Kind::UnNumber => {
            s.insert("pattern".into(), "^UN[0-9]{4}$".into());
        }
        Kind::DocumentNumber => {
            s.insert(
                "pattern".into(),
                "^[0-9]{1,6}(/[0-9]{4})?/[A-ZĐ]+(-[A-ZĐ0-9]+)*$".into(),
            );
        }
        Kind::VehiclePlate => {
            s.insert("pattern".into(), "^[0-9]{2}[A-Z]{1,2}[0-9]{4,6}$".into());
        }
        Kind::Identifier {
            min_len,
            max_len,
            charset,
        } => {
            let class = if charset == Charset::Digits {
                "0-9"
            } else {
                "A-Z0-9"
            };
            s.insert(
                "pattern".into(),
                format!("^[{class}]{{{min_len},{max_len}}}$").into(),
            );
        }
        Kind::Enum(values) => {
            s.insert("enum".into(), values.to_vec().into());
        }
        Kind::Decimal { min, max } => {
            s.insert("minimum".into(), min.into());
            s.insert("maximum".into(), max.into());
        }
        Kind::Text { max_chars } => {
            s.insert("maxLength".into(), max_chars.into());
        }
        Kind::Name | Kind::Address => {}
    }
    s.insert("x-lienthong-element".into(), el.name.into());
    s.insert(
        "x-lienthong-sensitivity".into(),
        el.sensitivity.as_str().into(),
    );
    if let Some((system, version)) = el.binding() {
        let system = if matches!(el.kind, Kind::Ethnicity) {
            opts.ethnicity.id
        } else {
            system
        };
        s.insert(
            "x-lienthong-code-system".into(),
            json!({ "id": system, "version": version }),
        );
    }
    Value::Object(s)
}

fn object_schema(d: &Dataset) -> Value {
    let mut props = Map::new();
    for f in d.fields {
        let el = element(f.element).expect("shipped datasets bind to known elements (tested)");
        props.insert(f.name.into(), field_schema(el, &f.opts));
    }
    json!({
        "type": "object",
        "title": d.title,
        "properties": props,
        "required": d.fields.iter().filter(|f| f.mandatory).map(|f| f.name).collect::<Vec<_>>(),
        "additionalProperties": d.allow_extra,
        "x-lienthong-key": d.key,
    })
}

/// JSON Schema 2020-12 for one dataset's normalised records.
pub fn json_schema(d: &Dataset) -> Value {
    let mut s = object_schema(d);
    let obj = s.as_object_mut().expect("object_schema returns an object");
    obj.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    obj.insert(
        "$id".into(),
        format!("urn:lienthong:dataset:{}", d.name).into(),
    );
    s
}

/// OpenAPI 3.1 document with one component schema per dataset (all datasets when `None`).
pub fn openapi(only: Option<&Dataset>) -> Value {
    let mut schemas = Map::new();
    for d in DATASETS
        .iter()
        .filter(|d| only.is_none_or(|o| o.name == d.name))
    {
        schemas.insert(d.name.into(), object_schema(d));
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "lienthong shared data dictionary", "version": env!("CARGO_PKG_VERSION") },
        "paths": {},
        "components": { "schemas": schemas },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CITIZEN;

    #[test]
    fn citizen_schema_shape() {
        let s = json_schema(&CITIZEN);
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"].as_array().map(Vec::len), Some(6));
        assert_eq!(s["properties"]["personal_id"]["pattern"], "^[0-9]{12}$");
        assert_eq!(
            s["properties"]["province_code"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(34)
        );
        assert_eq!(
            s["properties"]["ethnicity"]["x-lienthong-code-system"]["id"],
            "ethnicity/qd121-tctk"
        );
        assert_eq!(
            openapi(None)["components"]["schemas"]
                .as_object()
                .map(|m| m.len()),
            Some(DATASETS.len())
        );
    }
}
