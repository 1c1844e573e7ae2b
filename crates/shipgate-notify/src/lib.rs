//! Deployment notifications for `[notify]` webhooks.
//!
//! The pure half decides and formats: [`events_for`] maps a deployment's timeline event to the
//! notifications it triggers, [`Notification`] is what is said, [`body`] renders it as
//! shipgate's generic JSON or as a Slack-compatible message, and [`Retry`] is the backoff
//! schedule. The edge is [`deliver`]: one `POST` per attempt (with `ureq`, on tokio's blocking
//! pool) until the receiver answers 2xx, refuses for good, or the attempts run out.
//!
//! Nothing here reads the store or the clock; the server feeds it (`shipgate-server/src/notify.rs`).

#![forbid(unsafe_code)]

mod deliver;
mod event;
mod payload;
mod retry;

pub use deliver::{AttemptError, DeliveryError, Sender, deliver};
pub use event::{Notification, TimelineEvent, event_name, events_for, wants};
pub use payload::{body, json_body, slack_body};
pub use retry::Retry;
