//! The I/O edge: `POST` a notification until the receiver takes it.
//!
//! Each attempt is a blocking `ureq` request (the HTTP client the workspace already uses,
//! with rustls for `https://`) on tokio's blocking pool, bounded by the retry's timeout; the
//! waits between attempts are tokio sleeps. A delivery never holds anything but its own task.

use std::time::Duration;

use shipgate_spec::WebhookFormat;

use crate::event::{Notification, event_name};
use crate::payload::body;
use crate::retry::Retry;

/// Why one attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

impl AttemptError {
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Status(status) => Retry::retryable_status(*status),
            AttemptError::Transport(_) => true,
        }
    }
}

/// A delivery that gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not delivered after {attempts} attempt(s): {last}")]
pub struct DeliveryError {
    pub attempts: u32,
    #[source]
    pub last: AttemptError,
}

/// The HTTP client of deliveries; cheap to clone and to share.
#[derive(Debug, Clone)]
pub struct Sender {
    agent: ureq::Agent,
}

impl Sender {
    /// A client whose every attempt ends within `timeout` (connecting, sending and reading
    /// the answer's head).
    pub fn new(timeout: Duration) -> Sender {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Sender { agent }
    }

    /// One attempt: `Ok` on a 2xx answer.
    pub async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<(), AttemptError> {
        let agent = self.agent.clone();
        let url = url.to_owned();
        let status = tokio::task::spawn_blocking(move || {
            let mut request = agent.post(&url).header("content-type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.send(&body[..]).map(|response| response.status().as_u16())
        })
        .await
        .map_err(|error| AttemptError::Transport(format!("the sending task failed: {error}")))?
        .map_err(|error| AttemptError::Transport(error.to_string()))?;
        if (200..300).contains(&status) { Ok(()) } else { Err(AttemptError::Status(status)) }
    }
}

/// Sends `notification` to `url` as `format`, retrying per `retry`. `failed` hears about each
/// failed attempt (its number, the error, and the wait before the next one, if any).
/// Returns the number of attempts it took.
pub async fn deliver(
    sender: &Sender,
    url: &str,
    notification: &Notification,
    format: WebhookFormat,
    retry: Retry,
    mut failed: impl FnMut(u32, &AttemptError, Option<Duration>),
) -> Result<u32, DeliveryError> {
    let payload = body(notification, format).to_string().into_bytes();
    let mut attempt = 1;
    loop {
        let headers = vec![
            ("x-shipgate-event", event_name(notification.event).to_owned()),
            ("x-shipgate-delivery", notification.delivery_id()),
            ("x-shipgate-attempt", attempt.to_string()),
        ];
        let error = match sender.post(url, headers, payload.clone()).await {
            Ok(()) => return Ok(attempt),
            Err(error) => error,
        };
        let again = attempt < retry.attempts && error.retryable();
        let wait = again.then(|| retry.delay_before(attempt + 1));
        failed(attempt, &error, wait);
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(DeliveryError { attempts: attempt, last: error }),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    //! Against real sockets: a std `TcpListener` answering with a scripted list of statuses.

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use shipgate_spec::Event;

    use super::*;

    fn notification() -> Notification {
        Notification {
            event: Event::DeploymentSucceeded,
            app: "web".into(),
            environment: "staging".into(),
            version: "v2".into(),
            from_version: None,
            deployment: 3,
            kind: "deploy".into(),
            status: "succeeded".into(),
            reason: None,
            message: "staging runs v2".into(),
            time: "2026-05-01T10:00:00Z".into(),
            seq: 9,
        }
    }

    /// Answers each request with the next status of `script` (the last one repeats) and keeps
    /// the bodies and headers it received.
    /// Each request's head and body, as received.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    fn receiver(script: Vec<u16>) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                record.lock().unwrap().push((head, String::from_utf8(body).unwrap()));
                let status = script[index.min(script.len() - 1)];
                let mut stream = reader.into_inner();
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        (url, seen)
    }

    fn quick() -> Retry {
        Retry {
            attempts: 4,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn a_receiver_that_fails_twice_gets_the_third_attempt() {
        let (url, seen) = receiver(vec![503, 500, 204]);
        let mut failures = Vec::new();
        let sender = Sender::new(quick().timeout);
        let attempts = deliver(&sender, &url, &notification(), WebhookFormat::Json, quick(), |n, error, wait| {
            failures.push((n, error.clone(), wait))
        })
        .await
        .unwrap();
        assert_eq!(attempts, 3);
        assert_eq!(
            failures,
            [
                (1, AttemptError::Status(503), Some(Duration::from_millis(50))),
                (2, AttemptError::Status(500), Some(Duration::from_millis(100))),
            ]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let (head, body) = &seen[2];
        assert!(head.contains("x-shipgate-event: deployment.succeeded"), "{head}");
        assert!(head.contains("x-shipgate-delivery: 3-9-deployment.succeeded"), "{head}");
        assert!(head.contains("x-shipgate-attempt: 3"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["event"], "deployment.succeeded");
        assert_eq!(body["version"], "v2");
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_not_retried() {
        let (url, seen) = receiver(vec![404]);
        let sender = Sender::new(quick().timeout);
        let error =
            deliver(&sender, &url, &notification(), WebhookFormat::Slack, quick(), |_, _, _| {}).await.unwrap_err();
        assert_eq!(error, DeliveryError { attempts: 1, last: AttemptError::Status(404) });
        assert!(seen.lock().unwrap()[0].1.contains("\"blocks\""));
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_is_given_up_on_after_the_last_attempt() {
        // Accepts connections (the backlog) but never reads or answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let retry = Retry { attempts: 2, timeout: Duration::from_millis(300), ..quick() };
        let started = std::time::Instant::now();
        let error =
            deliver(&Sender::new(retry.timeout), &url, &notification(), WebhookFormat::Json, retry, |_, _, _| {})
                .await
                .unwrap_err();
        assert_eq!(error.attempts, 2);
        assert!(matches!(error.last, AttemptError::Transport(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        drop(listener);
    }
}
