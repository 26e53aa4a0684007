//! X-Road REST metadata services answered from the signed registry snapshot (PR-META,
//! PR-MREST): `GET /listClients[?xRoadInstance=…]` (XML, or JSON on `Accept`),
//! `GET /r1/{SUBSYSTEM ID}/listMethods`, `…/allowedMethods`, `…/getOpenAPI?serviceCode=CODE`.

use lienthong_core::{MemberId, ServiceId};
use lienthong_registry::SnapshotBody;
use serde_json::{json, Value};

use crate::error::GatewayError;

pub const METHODS: [&str; 3] = ["listMethods", "allowedMethods", "getOpenAPI"];

fn member_json(id: &MemberId, object_type: &str) -> Value {
    let mut v = json!({
        "object_type": object_type,
        "xroad_instance": id.instance,
        "member_class": id.class,
        "member_code": id.member,
    });
    if let Some(s) = &id.subsystem {
        v["subsystem_code"] = s.clone().into();
    }
    v
}

/// `listClients` (PR-META 2): every member and subsystem of the instance (the node's own
/// unless `instance` names another), as `{"member": [{id, name, subsystem_name}]}`; a member
/// is listed once, before its subsystems.
pub fn list_clients(snapshot: &SnapshotBody, instance: &str) -> Value {
    let mut out: Vec<Value> = Vec::new();
    let mut members_seen = std::collections::HashSet::new();
    for m in &snapshot.registry.members {
        let Ok(id) = MemberId::parse(&m.id) else {
            continue;
        };
        if id.instance != instance {
            continue;
        }
        let owner = MemberId {
            subsystem: None,
            ..id.clone()
        };
        if members_seen.insert(owner.to_string()) {
            out.push(json!({ "id": member_json(&owner, "MEMBER"), "name": m.name }));
        }
        if id.subsystem.is_some() {
            out.push(json!({ "id": member_json(&id, "SUBSYSTEM"), "name": m.name, "subsystem_name": m.name }));
        }
    }
    json!({ "member": out })
}

/// `listClients` in its XML form (`clientList`, PR-META annex A).
pub fn list_clients_xml(list: &Value) -> String {
    use quick_xml::escape::escape;
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<ns2:clientList xmlns:ns1=\"http://x-road.eu/xsd/identifiers\" xmlns:ns2=\"http://x-road.eu/xsd/xroad.xsd\">\n",
    );
    let text = |v: &Value| escape(v.as_str().unwrap_or("")).into_owned();
    for m in list["member"].as_array().into_iter().flatten() {
        let id = &m["id"];
        x.push_str(&format!(
            "  <ns2:member>\n    <ns2:id ns1:objectType=\"{}\">\n      <ns1:xRoadInstance>{}</ns1:xRoadInstance>\n      <ns1:memberClass>{}</ns1:memberClass>\n      <ns1:memberCode>{}</ns1:memberCode>\n",
            text(&id["object_type"]),
            text(&id["xroad_instance"]),
            text(&id["member_class"]),
            text(&id["member_code"]),
        ));
        if id.get("subsystem_code").is_some() {
            x.push_str(&format!(
                "      <ns1:subsystemCode>{}</ns1:subsystemCode>\n",
                text(&id["subsystem_code"])
            ));
        }
        x.push_str(&format!(
            "    </ns2:id>\n    <ns2:name>{}</ns2:name>\n",
            text(&m["name"])
        ));
        if m.get("subsystem_name").is_some() {
            x.push_str(&format!(
                "    <ns2:subsystemName>{}</ns2:subsystemName>\n",
                text(&m["subsystem_name"])
            ));
        }
        x.push_str("  </ns2:member>\n");
    }
    x.push_str("</ns2:clientList>\n");
    x
}

/// What a service offers: a dataset service its read endpoints; a REST-proxied one (the
/// provider's node says which, `rest`) every path, with the methods an agreement may grant.
fn endpoints(rest: bool, methods: &[String]) -> Vec<Value> {
    let endpoint = |m: &str, p: &str| json!({ "method": m, "path": p });
    if rest {
        if methods.is_empty() {
            return vec![endpoint("*", "**")];
        }
        return methods.iter().map(|m| endpoint(m, "**")).collect();
    }
    vec![
        endpoint("GET", "/records/*"),
        endpoint("GET", "/records"),
        endpoint("GET", "/changes"),
    ]
}

/// `listMethods` (every service of the provider, each with its `endpoint_list`) or
/// `allowedMethods` (those the client has an agreement in force for, with the endpoints the
/// agreement allows), PR-MREST 4. `rest` tells the services answered by a REST backend.
pub fn methods(
    snapshot: &SnapshotBody,
    provider: &MemberId,
    client: Option<&MemberId>,
    today: &str,
    rest: impl Fn(&str) -> bool,
) -> Value {
    let mut services: Vec<Value> = Vec::new();
    for s in &snapshot.registry.services {
        let Ok(id) = ServiceId::parse(&s.id) else {
            continue;
        };
        if &id.provider != provider {
            continue;
        }
        let is_rest = rest(&s.id);
        let endpoint_list = match client {
            None => endpoints(is_rest, &[]),
            Some(c) => {
                let c = c.to_string();
                let agreement = snapshot.registry.agreements.iter().find(|a| {
                    a.consumer == c
                        && a.service == s.id
                        && a.valid_from.as_str() <= today
                        && today <= a.valid_to.as_str()
                });
                let Some(a) = agreement else { continue };
                let granted: Vec<String> = if a.methods.is_empty() {
                    vec!["GET".into(), "HEAD".into()]
                } else {
                    a.methods.clone()
                };
                endpoints(is_rest, &granted)
            }
        };
        let mut v = member_json(&id.provider, "SERVICE");
        v["service_code"] = id.code.clone().into();
        v["service_type"] = if is_rest { "REST" } else { "OPENAPI" }.into();
        v["endpoint_list"] = endpoint_list.into();
        services.push(v);
    }
    json!({ "service": services })
}

/// OpenAPI 3.1 description of a dataset service: its two operations and the dataset's schema
/// from the shared dictionary.
pub fn open_api(
    snapshot: &SnapshotBody,
    provider: &MemberId,
    code: &str,
) -> Result<Value, GatewayError> {
    let id = format!("{provider}/{code}");
    let service = snapshot.registry.service(&id).ok_or_else(|| {
        GatewayError::NoServiceDescription(format!("{provider} has no service {code}"))
    })?;
    let dataset = lienthong_dictionary::catalog::dataset(&service.dataset).ok_or_else(|| {
        GatewayError::NoServiceDescription(format!("{id}: dataset {}", service.dataset))
    })?;
    let mut doc = lienthong_dictionary::schema::openapi(Some(dataset));
    let record = json!({ "$ref": format!("#/components/schemas/{}", dataset.name) });
    let key = dataset.key.first().copied().unwrap_or("key");
    doc["info"]["title"] = id.clone().into();
    doc["paths"] = json!({
        format!("/records/{{{key}}}"): { "get": {
            "operationId": "getRecord",
            "parameters": [{ "name": key, "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": { "200": { "description": "the record, fields limited by the agreement", "content": { "application/json": { "schema": record } } },
                           "404": { "description": "no such record" } }
        }},
        "/records": { "get": {
            "operationId": "queryRecords",
            "description": "filter by the service's declared filter fields (field=value); keyset pagination",
            "parameters": [
                { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": crate::backend::LIMIT_MAX } },
                { "name": "cursor", "in": "query", "schema": { "type": "string" } }
            ],
            "responses": { "200": { "description": "a page of records", "content": { "application/json": { "schema": {
                "type": "object",
                "properties": { "records": { "type": "array", "items": record }, "next_cursor": { "type": ["string", "null"] } }
            }}}}}
        }},
    });
    Ok(doc)
}
