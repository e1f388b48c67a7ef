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
