//! Who is calling: the bearer token of each request, checked against the control store,
//! turned into a [`Principal`] with a role and a sector scope.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ncsoc_model::Timestamp;
use ncsoc_store::control::{AuditEntry, Role, TokenRecord};
use ncsoc_store::Scope;

use crate::error::ApiError;
use crate::AppState;

/// Security settings of the analyst listener (`[api.security]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {}

#[allow(clippy::derivable_impls)]
impl Default for SecurityConfig {
    fn default() -> Self {
        Self {}
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: TokenRecord,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.token.role
    }

    /// The sectors this caller may read; every store query takes it.
    pub fn scope(&self) -> Scope {
        self.token.scope()
    }

    /// The name recorded as author of notes and in the audit log.
    pub fn actor(&self) -> &str {
        &self.token.name
    }

    /// Fails with 403 unless the caller has at least `role` (forwarders never pass: the
    /// analyst API is not for ingest).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.token.role == Role::Forwarder || self.token.role < role {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )));
        }
        Ok(())
    }

    pub fn is_admin(&self) -> bool {
        self.token.role == Role::Admin
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
        let token = state
            .control
            .verify_token(secret, Timestamp::now())?
            .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))?;
        if token.role == Role::Forwarder {
            return Err(ApiError::forbidden(
                "forwarder tokens ingest on the intake listener; they cannot use the analyst API",
            ));
        }
        Ok(Principal { token })
    }
}

impl AppState {
    /// Appends to the audit log. A failure to audit is logged, and fails the request
    /// (an action that cannot be audited is not done) when `outcome` is `ok`.
    pub fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            seq: 0,
            at: Timestamp::now(),
            token_id: who.token.id.clone(),
            actor: who.token.name.clone(),
            role: who.token.role.as_str().to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail,
        };
        match self.control.append_audit(&entry) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, action, "cannot write the audit log");
                if outcome == "ok" {
                    Err(e.into())
                } else {
                    Ok(())
                }
            }
        }
    }
}
