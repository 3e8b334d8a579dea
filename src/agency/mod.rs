//! Agency connectors: how the registry asks public security, traffic police, vehicle
//! registration, the exam centre, the market regulator and provincial transport.
//!
//! An agency is a real HTTP service. The registry POSTs a check to `<agency>/v1/checks` with a
//! timeout and bounded retries, and keeps whatever comes back as evidence. `sim` is a simulator
//! that answers from a records file, used by the demo and the tests over real HTTP.

pub mod sim;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest agency answer read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the registry sends an agency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub application_id: String,
    pub kind: String,
    /// Identifiers of the subject: `citizen_id`, `plate`, `vin`, `credit_code`, as relevant.
    pub subject: serde_json::Map<String, serde_json::Value>,
}

/// What an agency answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckAnswer {
    pub agency: String,
    pub facts: serde_json::Value,
}

/// Why an agency could not answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AgencyError {
    #[error("agency {0} is not configured")]
    NotConfigured(String),
    #[error("no answer after {attempts} attempt(s): {last}")]
    Unreachable { attempts: u32, last: String },
    #[error("agency has no record of the subject")]
    NoRecord,
    #[error("agency answered with something unreadable: {0}")]
    BadAnswer(String),
}

/// Calls agencies with a timeout and bounded retries.
#[derive(Debug, Clone)]
pub struct AgencyClient {
    http: reqwest::Client,
    timeout: Duration,
    retries: u32,
}

impl AgencyClient {
    pub fn new(timeout: Duration, retries: u32) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        AgencyClient {
            http,
            timeout,
            retries,
        }
    }

    /// Asks one agency; retries transport errors and 5xx with a short backoff.
    pub async fn check(
        &self,
        base_url: &str,
        request: &CheckRequest,
    ) -> Result<CheckAnswer, AgencyError> {
        let url = format!("{}/v1/checks", base_url.trim_end_matches('/'));
        let mut last = String::new();
        let attempts = self.retries + 1;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50u64 << attempt.min(4))).await;
            }
            let response = match self
                .http
                .post(&url)
                .json(request)
                .timeout(self.timeout)
                .send()
                .await
            {
                Ok(response) => response,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(AgencyError::NoRecord);
            }
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| AgencyError::BadAnswer(e.to_string()))?;
            if !status.is_success() {
                return Err(AgencyError::BadAnswer(format!("HTTP {status}")));
            }
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err(AgencyError::BadAnswer("answer over the size limit".into()));
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| AgencyError::BadAnswer(e.to_string()));
        }
        Err(AgencyError::Unreachable { attempts, last })
    }
}
