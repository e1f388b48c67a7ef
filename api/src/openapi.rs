//! The OpenAPI 3.1 document, collected from the handlers' `#[utoipa::path]` annotations,
//! served at `/api/v1/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;

use crate::AppState;

/// Title, version, the bearer scheme; paths are added by the routers.
pub fn base() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("ncsoc analyst API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "National incidents, their workflow, event and flow search, the live \
                     incident stream and administration. Every call takes \
                     `Authorization: Bearer <token>`.",
                ))
                .build(),
        )
        .servers(Some([utoipa::openapi::Server::new("/api/v1")]))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    doc
}

/// Answers the listener itself may give to any operation (its limits run before the
/// handlers), added to every operation that does not document them already: 429 (rate
/// limits), 431 (request head over `max_header_bytes`, answered without a body), 503 (request timeout, store
/// unavailable), and 413 where a body is taken (`max_body_bytes`).
pub fn add_listener_responses(doc: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let answer = |what: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let takes_body = op.request_body.is_some();
            // Answered by the HTTP parser before any handler runs: no body.
            op.responses
                .responses
                .entry("431".to_string())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(
                                "The request line or headers are over the listener's limit (no body)",
                            )
                            .build(),
                    )
                });
            let r = &mut op.responses.responses;
            let mut add = |code: &str, what: &str| {
                r.entry(code.to_string()).or_insert_with(|| answer(what));
            };
            add(
                "429",
                "Too many requests from this token or address; see Retry-After",
            );
            add(
                "431",
                "The request line or headers are over the listener's limit",
            );
            add("503", "The request timed out, or the store is unavailable");
            if takes_body {
                add("413", "The body is over the listener's limit");
            }
        }
    }
}

/// `/openapi.json` and the docs page rendered from it at `/docs` (no authentication: the
/// description holds no data, and clients need it before they have a token).
pub fn routes(doc: OpenApi) -> Router<AppState> {
    let json = match doc.to_json() {
        Ok(j) => axum::body::Bytes::from(j),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            axum::body::Bytes::from_static(b"{}")
        }
    };
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json) }
            }),
        )
        .route(
            "/docs",
            get(|| async { asset("text/html; charset=utf-8", DOCS_HTML) }),
        )
        .route(
            "/docs/docs.js",
            get(|| async { asset("text/javascript; charset=utf-8", DOCS_JS) }),
        )
        .route(
            "/docs/docs.css",
            get(|| async { asset("text/css; charset=utf-8", DOCS_CSS) }),
        )
}

const DOCS_HTML: &str = include_str!("../assets/docs/index.html");
const DOCS_JS: &str = include_str!("../assets/docs/docs.js");
const DOCS_CSS: &str = include_str!("../assets/docs/docs.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
