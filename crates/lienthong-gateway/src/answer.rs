//! What an answer names: the fields its rows carry and the personal IDs in them, for the
//! record of the exchange. Read from the answer's text as it is parsed, or from a `Value`
//! where the node parsed the answer anyway (to project it). Pure.

use lienthong_dictionary::catalog::Dataset;
use serde_json::Value;

/// Personal IDs and field names in an answer: from the key in the path (when the dataset is
/// keyed by a personal ID) and from every field bound to the `personal_id` element.
///
/// The body is read as it is parsed, keeping only each object's names and string values: the
/// same answer as [`subjects_and_fields_of`] over its `Value`, without building one (an
/// answer of a few megabytes of rows would be a tree of millions of allocations).
pub fn subjects_and_fields(
    dataset: Option<&Dataset>,
    path: &str,
    body: &[u8],
) -> (Vec<String>, Vec<String>) {
    let objects = match serde_json::from_slice::<scan::Top>(body) {
        Ok(scan::Top::Records(objects) | scan::Top::Array(objects)) => objects,
        Ok(scan::Top::Object(object)) => vec![object],
        Ok(scan::Top::Other) | Err(_) => Vec::new(),
    };
    let (mut subjects, mut fields) = (path_subject(dataset, path), Vec::new());
    for object in &objects {
        for (name, value) in object {
            add_field(
                dataset,
                (name, value.as_deref()),
                &mut subjects,
                &mut fields,
            );
        }
    }
    (subjects, fields)
}

/// The person a path names: its key, when the dataset is keyed by a personal ID.
fn path_subject(dataset: Option<&Dataset>, path: &str) -> Vec<String> {
    match (dataset, path.strip_prefix("/records/")) {
        (Some(d), Some(key)) if d.key.first().is_some_and(|k| is_pid(dataset, k)) => {
            vec![key.to_owned()]
        }
        _ => Vec::new(),
    }
}

fn is_pid(dataset: Option<&Dataset>, name: &str) -> bool {
    dataset
        .and_then(|d| d.field(name))
        .is_some_and(|f| f.element == "personal_id")
}

/// One field of an answer's object: its name among the fields, its value among the persons
/// when it is a personal ID (not empty, not masked).
fn add_field(
    dataset: Option<&Dataset>,
    (name, value): (&str, Option<&str>),
    subjects: &mut Vec<String>,
    fields: &mut Vec<String>,
) {
    if !fields.iter().any(|f| f == name) {
        fields.push(name.to_owned());
    }
    if let Some(s) = value.filter(|s| !s.is_empty() && *s != "***" && is_pid(dataset, name)) {
        if !subjects.iter().any(|x| x == s) {
            subjects.push(s.to_owned());
        }
    }
}

/// [`subjects_and_fields`] of an answer already parsed (`Null` when it is not JSON).
pub fn subjects_and_fields_of(
    dataset: Option<&Dataset>,
    path: &str,
    value: &Value,
) -> (Vec<String>, Vec<String>) {
    let objects: Vec<&serde_json::Map<String, Value>> = match value {
        Value::Object(m) if m.contains_key("records") => m["records"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default(),
        Value::Object(m) if m.contains_key("type") && m.contains_key("message") => Vec::new(),
        Value::Object(m) => vec![m],
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let (mut subjects, mut fields) = (path_subject(dataset, path), Vec::new());
    for object in objects {
        for (name, value) in object {
            add_field(dataset, (name, value.as_str()), &mut subjects, &mut fields);
        }
    }
    (subjects, fields)
}

/// An answer's objects read straight from its text: each object's keys and string values, in
/// the order a `serde_json::Map` holds them (sorted by key, the last of a repeated key), every
/// other value parsed and checked as for a `Value` but not kept.
mod scan {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// An object's fields: name, and the value when it is a string (borrowed from the text
    /// where it has no escapes).
    pub type Object<'de> = Vec<(Cow<'de, str>, Option<Cow<'de, str>>)>;

    /// The answer's shape, as [`super::subjects_and_fields_of`] reads a `Value`.
    pub enum Top<'de> {
        /// An object with `records`: the objects of that array (none when it is no array).
        Records(Vec<Object<'de>>),
        /// An array: its objects.
        Array(Vec<Object<'de>>),
        /// Any other object, not an error answer (`type` and `message`).
        Object(Object<'de>),
        Other,
    }

    impl<'de> de::Deserialize<'de> for Top<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Top<'de>, D::Error> {
            d.deserialize_any(TopVisitor)
        }
    }

    /// Scalars: what a visitor of a value it keeps nothing of answers for them.
    macro_rules! scalars {
        ($value:expr) => {
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok($value)
            }
        };
    }

    struct TopVisitor;

    impl<'de> Visitor<'de> for TopVisitor {
        type Value = Top<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(Top::Other);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Top::Other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            objects(seq).map(Top::Array)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields: Object<'de> = Vec::new();
            let mut records: Option<Vec<Object<'de>>> = None;
            let (mut has_records, mut has_type, mut has_message) = (false, false, false);
            while let Some(key) = map.next_key_seed(Text)? {
                match key.as_ref() {
                    // The last `records` counts, as in a `Map`.
                    "records" => {
                        has_records = true;
                        records = map.next_value_seed(MaybeObjects)?;
                        continue;
                    }
                    "type" => has_type = true,
                    "message" => has_message = true,
                    _ => {}
                }
                fields.push((key, map.next_value_seed(MaybeText)?));
            }
            Ok(if has_records {
                Top::Records(records.unwrap_or_default())
            } else if has_type && has_message {
                Top::Other
            } else {
                Top::Object(in_map_order(fields))
            })
        }
    }

    /// Sorted by name, the last of a repeated name kept: the order of a `serde_json::Map`.
    fn in_map_order(mut fields: Object<'_>) -> Object<'_> {
        // A stable sort keeps repeats in the order sent; the last of each run is kept.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Object<'_> = Vec::with_capacity(fields.len());
        for field in fields {
            match out.last_mut() {
                Some(last) if last.0 == field.0 => *last = field,
                _ => out.push(field),
            }
        }
        out
    }

    /// The objects among an array's items (other items parsed, not kept).
    fn objects<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Object<'de>>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(MaybeObject)? {
            out.extend(item);
        }
        Ok(out)
    }

    /// A string, borrowed from the text where it has no escapes.
    struct Text;

    impl<'de> DeserializeSeed<'de> for Text {
        type Value = Cow<'de, str>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text)
        }
    }

    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }

    /// A value kept when it is a string.
    struct MaybeText;

    impl<'de> DeserializeSeed<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeText)
        }
    }

    impl<'de> Visitor<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_map(map).map(|()| None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_seq(seq).map(|()| None)
        }
    }

    /// The objects of an array value, or `None` when the value is no array.
    struct MaybeObjects;

    impl<'de> DeserializeSeed<'de> for MaybeObjects {
        type Value = Option<Vec<Object<'de>>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeObjects)
        }
    }

    impl<'de> Visitor<'de> for MaybeObjects {
        type Value = Option<Vec<Object<'de>>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            objects(seq).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_map(map).map(|()| None)
        }
    }

    /// An object's fields, or `None` for any other value.
    struct MaybeObject;

    impl<'de> DeserializeSeed<'de> for MaybeObject {
        type Value = Option<Object<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeObject)
        }
    }

    impl<'de> Visitor<'de> for MaybeObject {
        type Value = Option<Object<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::new();
            while let Some(key) = map.next_key_seed(Text)? {
                fields.push((key, map.next_value_seed(MaybeText)?));
            }
            Ok(Some(in_map_order(fields)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_seq(seq).map(|()| None)
        }
    }

    /// Any value, parsed as for a `Value` (numbers in range, escapes valid) and dropped:
    /// `serde::de::IgnoredAny` would skip numbers without reading them.
    struct Ignore;

    impl<'de> DeserializeSeed<'de> for Ignore {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Ignore)
        }
    }

    impl<'de> Visitor<'de> for Ignore {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(());
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_key_seed(Ignore)?.is_some() {
                map.next_value_seed(Ignore)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Ignore)?.is_some() {}
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_dictionary::catalog;

    /// The answer's objects read as a `Value`, as before they were read straight from the text.
    fn read_as_value(path: &str, body: &[u8]) -> (Vec<String>, Vec<String>) {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        subjects_and_fields_of(Some(&catalog::CITIZEN), path, &value)
    }

    /// JSON with repeated names, every shape `subjects_and_fields` tells apart, escapes, and
    /// numbers and strings a `Value` refuses.
    fn answer_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec![
            r#""records""#,
            r#""type""#,
            r#""message""#,
            r#""personal_id""#,
            r#""full_name""#,
            r#""personal_\u0069d""#,
            r#""a""#,
            r#""""#,
        ]);
        let leaf = prop::sample::select(vec![
            r#""001090123456""#,
            r#""079190000001""#,
            r#""""#,
            r#""***""#,
            r#""x\"y""#,
            "\"Nguyễn\"",
            r#""\u0030""#,
            "1",
            "-0",
            "1.5e3",
            "1e400",
            "18446744073709551616",
            "null",
            "true",
            r#""\ud800""#,
            r#""\ud83d\ude00""#,
        ])
        .prop_map(str::to_owned);
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((name.clone(), inner), 0..6).prop_map(|v| {
                    let fields: Vec<String> = v.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn an_answer_read_from_its_text_names_what_its_value_names(
            text in answer_text(),
            tail in proptest::sample::select(vec!["", " ", "\n", " x", ",", "]"]),
            path in proptest::sample::select(vec!["", "/records/001090123456", "/records/x"]),
        ) {
            let body = format!("{text}{tail}");
            proptest::prop_assert_eq!(
                subjects_and_fields(Some(&catalog::CITIZEN), path, body.as_bytes()),
                read_as_value(path, body.as_bytes())
            );
        }
    }

    #[test]
    fn an_answer_read_from_its_text_names_the_persons_and_fields_its_value_names() {
        let cases: &[&str] = &[
            r#"{"personal_id":"001090123456","full_name":"An","sex":"1"}"#,
            r#"[{"personal_id":"001090123456"},{"personal_id":"001090123456","b":1},2,"x",[{"personal_id":"1"}]]"#,
            r#"{"records":[{"personal_id":"079190000001","z":null},{"a":{"personal_id":"9"}}],"next":"c"}"#,
            r#"{"records":{"personal_id":"1"},"personal_id":"2"}"#,
            r#"{"records":[{"personal_id":"1"}],"records":[{"personal_id":"2"}]}"#,
            r#"{"personal_id":"1","personal_id":"2","a":"x","a":3}"#,
            r#"{"type":"Server.X","message":"no","personal_id":"1"}"#,
            r#"{"type":"t","personal_id":"***","full_name":""}"#,
            r#"{"personal_id":"","b":1e400}"#,
            r#"{"personal_\u0069d":"00109012345\u0036"}"#,
            r#"{"personal_id":"\ud800"}"#,
            r#"{"personal_id":"1"} x"#,
            "",
            "null",
            "[]",
            "{}",
            r#""s""#,
            "12",
            "[1,2",
            r#"{"a":}"#,
        ];
        for case in cases {
            for path in ["", "/records/001090123456"] {
                assert_eq!(
                    subjects_and_fields(Some(&catalog::CITIZEN), path, case.as_bytes()),
                    read_as_value(path, case.as_bytes()),
                    "{case} at {path:?}"
                );
            }
        }
        let (subjects, fields) =
            subjects_and_fields(Some(&catalog::CITIZEN), "", cases[2].as_bytes());
        assert_eq!(subjects, ["079190000001"]);
        assert_eq!(fields, ["personal_id", "z", "a"]);
        let (subjects, _) = subjects_and_fields(Some(&catalog::CITIZEN), "", cases[9].as_bytes());
        assert_eq!(subjects, ["001090123456"]);
        // Without a dataset nobody is a person; fields are still read.
        let (subjects, fields) = subjects_and_fields(None, "/records/1", cases[0].as_bytes());
        assert!(subjects.is_empty());
        assert_eq!(fields, ["full_name", "personal_id", "sex"]);
    }
}
