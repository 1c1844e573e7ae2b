//! The demo's stakeholders: a webhook receiver on 127.0.0.1 that the demo's `[notify]` points
//! at (Slack format, as a team's chat would get it), keeping each message's text.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

type Heard = Arc<Mutex<Vec<String>>>;

pub struct Hooks {
    /// Where `[[notify.webhook]]` sends.
    pub url: String,
    heard: Heard,
    /// Serves the receiver; dropped (and the receiver with it) when the demo ends.
    _runtime: tokio::runtime::Runtime,
}

impl Hooks {
    pub fn start() -> anyhow::Result<Hooks> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the webhook receiver's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the webhook receiver on 127.0.0.1")?;
        let url = format!("http://{}/chat", listener.local_addr()?);
        let heard = Heard::default();
        let app = axum::Router::new().route("/chat", post(hear)).with_state(heard.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Hooks { url, heard, _runtime: runtime })
    }

    /// The messages received so far, oldest first.
    pub fn heard(&self) -> Vec<String> {
        self.heard.lock().map(|heard| heard.clone()).unwrap_or_default()
    }
}

async fn hear(State(heard): State<Heard>, Json(message): Json<Value>) -> StatusCode {
    let text = message["text"].as_str().unwrap_or("(a message without text)").to_owned();
    if let Ok(mut heard) = heard.lock() {
        heard.push(text);
    }
    StatusCode::NO_CONTENT
}
