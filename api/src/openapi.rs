//! The OpenAPI 3.1 document, collected from the handlers' `#[utoipa::path]` annotations,
//! served at `/api/v1/openapi.json`.

use axum::routing::get;
use axum::{Json, Router};
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

pub fn routes(doc: OpenApi) -> Router<AppState> {
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
