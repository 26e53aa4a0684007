//! The Ministry of Education's existing REST API, as an agency has one before it joins: its
//! own paths, its own bearer token, JSON records (read, changed with PUT/PATCH, deleted), a
//! POST search, OPTIONS, a PDF certificate, a redirect and its own errors. The ministry's node publishes it as the REST-proxied service
//! `students`, so an unchanged X-Road client reaches it through its own node.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sqlx::{AnyPool, Row};

/// The token the API asks for (`Authorization: Bearer …`); X-Road passes the header through.
pub(super) const TOKEN: &str = "demo-school-token";
/// The service code the ministry's node publishes the API under.
pub(super) const SERVICE: &str = "students";

#[derive(Clone)]
struct Api {
    pool: AnyPool,
    table: &'static str,
}

/// Serves the API on `listener` from the ministry's `table` in `db_url`.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    db_url: &str,
    table: &'static str,
) -> anyhow::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let api = Api {
        pool: AnyPool::connect(db_url).await?,
        table,
    };
    let app = Router::new()
        .route(
            "/v1/students/{id}",
            get(student)
                .put(update)
                .patch(update)
                .delete(remove)
                .options(options),
        )
        .route("/v1/students/{id}/certificate.pdf", get(certificate))
        .route("/v1/students/{id}/profile", get(moved))
        .route("/v1/students/search", post(search))
        .with_state(api);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The API's own error form (not X-Road's).
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(TOKEN)
}

fn unauthorised() -> Response {
    error(StatusCode::UNAUTHORIZED, "bearer token required")
}

fn unavailable() -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "database unavailable")
}

const COLUMNS: [&str; 9] = [
    "student_id",
    "personal_id",
    "full_name",
    "birth_date",
    "school_name",
    "level",
    "school_year",
    "province_code",
    "commune_code",
];

async fn rows(api: &Api, column: &str, value: &str) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {column} = ? LIMIT 20",
        COLUMNS.join(", "),
        api.table
    );
    let found = sqlx::query(&sql).bind(value).fetch_all(&api.pool).await?;
    Ok(found
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            for (i, c) in COLUMNS.iter().enumerate() {
                let v: Option<String> = r.try_get(i).ok().flatten();
                o.insert((*c).into(), v.unwrap_or_default().into());
            }
            serde_json::Value::Object(o)
        })
        .collect())
}

async fn student(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    match rows(&api, "student_id", &id).await {
        Ok(mut found) if !found.is_empty() => {
            let record = found.swap_remove(0);
            let etag = format!(
                "\"{}\"",
                &lienthong_trust::sha256_hex(record.to_string().as_bytes())[..16]
            );
            (
                [
                    (header::CACHE_CONTROL, "private, max-age=60".to_owned()),
                    (header::ETAG, etag),
                ],
                axum::Json(record),
            )
                .into_response()
        }
        Ok(_) => error(StatusCode::NOT_FOUND, "no such student"),
        Err(_) => unavailable(),
    }
}

/// The fields a school may change on an enrolment.
const EDITABLE: [&str; 4] = ["school_name", "level", "school_year", "commune_code"];

/// `PUT`/`PATCH /v1/students/{id}` with a JSON object of [`EDITABLE`] fields: the record
/// after the change.
async fn update(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let Ok(serde_json::Value::Object(changes)) = serde_json::from_slice(&body) else {
        return error(StatusCode::BAD_REQUEST, "body must be a JSON object");
    };
    if let Some(k) = changes.keys().find(|k| !EDITABLE.contains(&k.as_str())) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{k} cannot be changed here (only {})", EDITABLE.join(", ")),
        );
    }
    for (column, value) in &changes {
        let Some(value) = value.as_str() else {
            return error(StatusCode::BAD_REQUEST, &format!("{column} must be text"));
        };
        // `column` is one of EDITABLE: never the caller's text in the statement.
        let sql = format!("UPDATE {} SET {column} = ? WHERE student_id = ?", api.table);
        if sqlx::query(&sql)
            .bind(value.to_owned())
            .bind(id.clone())
            .execute(&api.pool)
            .await
            .is_err()
        {
            return unavailable();
        }
    }
    student(State(api), Path(id), headers).await
}

/// `DELETE /v1/students/{id}`: 204, or 404 when there is none.
async fn remove(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let sql = format!("DELETE FROM {} WHERE student_id = ?", api.table);
    match sqlx::query(&sql).bind(id).execute(&api.pool).await {
        Ok(r) if r.rows_affected() > 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => error(StatusCode::NOT_FOUND, "no such student"),
        Err(_) => unavailable(),
    }
}

/// `OPTIONS /v1/students/{id}`: what the resource allows.
async fn options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::ALLOW, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS")],
    )
        .into_response()
}

/// `POST /v1/students/search` with `{"personal_id": "…"}`: the person's enrolments.
async fn search(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let query: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error(StatusCode::BAD_REQUEST, "body must be JSON"),
    };
    let Some(pid) = query["personal_id"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "personal_id is required");
    };
    match rows(&api, "personal_id", pid).await {
        Ok(found) => axum::Json(found).into_response(),
        Err(_) => unavailable(),
    }
}

/// An old path the API moved: a redirect the client decides about.
async fn moved(Path(id): Path<String>) -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, format!("/v1/students/{id}"))],
    )
        .into_response()
}

/// A one-page PDF certificate of enrolment.
async fn certificate(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let found = match rows(&api, "student_id", &id).await {
        Ok(f) => f,
        Err(_) => return unavailable(),
    };
    let Some(record) = found.first() else {
        return error(StatusCode::NOT_FOUND, "no such student");
    };
    let line = format!(
        "Certificate of enrolment: student {} at {}, {}",
        record["student_id"].as_str().unwrap_or(""),
        record["school_name"].as_str().unwrap_or(""),
        record["school_year"].as_str().unwrap_or("")
    );
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"certificate-{id}.pdf\""),
            ),
        ],
        pdf(&line),
    )
        .into_response()
}

/// A minimal PDF 1.4 with one line of text. Written by hand: five objects and a cross-reference
/// table are all a demo document needs; the text is kept to printable ASCII.
fn pdf(text: &str) -> Vec<u8> {
    let text: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .filter(|c| !matches!(c, '(' | ')' | '\\'))
        .collect();
    let stream = format!("BT /F1 12 Tf 50 780 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_certificate_is_a_pdf_with_its_cross_references_in_place() {
        let pdf = super::pdf("Certificate (test) ok");
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[startxref..].starts_with("xref\n"));
        assert!(text.contains("(Certificate test ok)"), "{text}");
    }
}
