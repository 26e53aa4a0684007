//! X-Road REST metadata services answered from the signed registry snapshot:
//! `GET /r1/listClients`, `GET /r1/{SUBSYSTEM ID}/listMethods`, `…/allowedMethods`,
//! `…/getOpenAPI?serviceCode=CODE`.

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

fn service_json(id: &ServiceId) -> Value {
    let mut v = member_json(&id.provider, "SERVICE");
    v["service_code"] = id.code.clone().into();
    v["service_type"] = "OPENAPI".into();
    v
}

pub fn list_clients(snapshot: &SnapshotBody) -> Value {
    let members: Vec<Value> = snapshot
        .registry
        .members
        .iter()
        .filter_map(|m| {
            MemberId::parse(&m.id)
                .ok()
                .map(|id| json!({ "id": member_json(&id, "SUBSYSTEM"), "name": m.name }))
        })
        .collect();
    json!({ "member": members })
}

/// `listMethods` (every service of the provider) or `allowedMethods` (those the client has an
/// agreement for, in force today).
pub fn methods(
    snapshot: &SnapshotBody,
    provider: &MemberId,
    client: Option<&MemberId>,
    today: &str,
) -> Value {
    let services: Vec<Value> = snapshot
        .registry
        .services
        .iter()
        .filter_map(|s| ServiceId::parse(&s.id).ok())
        .filter(|s| &s.provider == provider)
        .filter(|s| {
            client.is_none_or(|c| {
                let c = c.to_string();
                let sid = s.to_string();
                snapshot.registry.agreements.iter().any(|a| {
                    a.consumer == c
                        && a.service == sid
                        && a.valid_from.as_str() <= today
                        && today <= a.valid_to.as_str()
                })
            })
        })
        .map(|s| service_json(&s))
        .collect();
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
    let service = snapshot
        .registry
        .service(&id)
        .ok_or_else(|| GatewayError::UnknownService(id.clone()))?;
    let dataset = lienthong_dictionary::catalog::dataset(&service.dataset).ok_or_else(|| {
        GatewayError::UnknownService(format!("{id}: dataset {}", service.dataset))
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
