//! The shapes of the OpenFeature Remote Evaluation Protocol (OFREP) v1 and the ETag of a bulk
//! answer. Only the server crate speaks HTTP; these are the bodies.
//! `schema/ofrep.schema.json` re-expresses the relevant part of the protocol's OpenAPI document
//! (open-feature/protocol `service/openapi.yaml`, version 0.1.0) as a JSON Schema; the tests
//! validate these bodies against it.
//!
//! A failed evaluation carries OFREP's `errorCode` (and `errorDetails`), never a `reason`: the
//! protocol's failure bodies have no `reason`, and an OpenFeature SDK reports reason `ERROR`
//! itself when it sees an `errorCode`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::evaluate::{ErrorCode, EvaluationError, Reason, Resolution};

/// The body of both evaluation requests: `{"context": {...}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EvaluationRequest {
    #[serde(default)]
    pub context: Value,
}

/// `evaluationSuccess`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Success {
    pub key: String,
    pub value: Value,
    pub reason: Reason,
    pub variant: String,
    pub metadata: Map<String, Value>,
}

/// `evaluationFailure` (single: 400/404 body; bulk: one entry of `flags`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub key: String,
    #[serde(rename = "errorCode")]
    pub error_code: ErrorCode,
    #[serde(rename = "errorDetails")]
    pub error_details: String,
}

/// One entry of a bulk answer, or the answer of a single evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Evaluation {
    Success(Success),
    Failure(Failure),
}

/// `bulkEvaluationSuccess`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bulk {
    pub flags: Vec<Evaluation>,
    pub metadata: Map<String, Value>,
}

/// `bulkEvaluationFailure`: a bulk request that cannot be evaluated at all (400), e.g. a body
/// that is not an evaluation request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkFailure {
    #[serde(rename = "errorCode")]
    pub error_code: ErrorCode,
    #[serde(rename = "errorDetails")]
    pub error_details: String,
}

/// `generalErrorResponse`: a request the server cannot answer (500), or refuses (401, 403).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneralError {
    #[serde(rename = "errorDetails")]
    pub error_details: String,
}

impl From<Result<Resolution, EvaluationError>> for Evaluation {
    fn from(result: Result<Resolution, EvaluationError>) -> Evaluation {
        match result {
            Ok(resolution) => Evaluation::Success(Success {
                key: resolution.key,
                value: resolution.value,
                reason: resolution.reason,
                variant: resolution.variant,
                metadata: Map::new(),
            }),
            Err(error) => {
                Evaluation::Failure(Failure { key: error.key, error_code: error.code, error_details: error.details })
            }
        }
    }
}

impl Evaluation {
    /// The HTTP status of a single evaluation: 200, 404 for an unknown flag, else 400.
    pub fn status(&self) -> u16 {
        match self {
            Evaluation::Success(_) => 200,
            Evaluation::Failure(Failure { error_code: ErrorCode::FlagNotFound, .. }) => 404,
            Evaluation::Failure(_) => 400,
        }
    }
}

/// The strong ETag of a bulk answer's body: equal bodies, equal tags, so an unchanged answer
/// is a 304 for a client that sends it back in `If-None-Match`.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header value matches `etag` (a list, weak tags, or `*`).
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(|tag| tag.trim().trim_start_matches("W/")).any(|tag| tag == "*" || tag == etag)
}

/// The JSON Schema of OFREP's responses (`schema/ofrep.schema.json`).
pub const SCHEMA: &str = include_str!("../schema/ofrep.schema.json");
