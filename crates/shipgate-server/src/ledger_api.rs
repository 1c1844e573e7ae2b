//! The audit ledger over HTTP, for the web console and for auditors without shell access:
//!
//! - `GET /api/v1/ledger?action=&actor=&subject=&env=&limit=&before=`: entries, newest first;
//! - `POST /api/v1/ledger/verify`: the full verification `shipgate audit verify` runs;
//! - `GET /api/v1/ledger/checkpoint`: a signed checkpoint of the ledger as it is now, the
//!   text `shipgate audit checkpoint` prints, as a download.
//!
//! All three need only the `read` permission: none changes what the ledger records (the
//! checkpoint is signed and stored when no stored one covers the whole ledger, as the CLI
//! does). A token scoped to some environments sees only their entries and the entries about
//! no environment.
//!
//! Deciding which entries a request asks for ([`Filter`], [`Window`]) is pure; the handlers
//! read the store on a blocking thread around it.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use shipgate_ledger::checkpoint::UnverifiedCheckpoint;
use shipgate_ledger::{Entry, Verdict, base64_hash};
use shipgate_store::{EntryQuery, EntryRow, TextMatch};

use crate::api::{ApiError, AppState};
use crate::auth::Caller;
use crate::record::RecordError;

type Shared = State<Arc<AppState>>;

/// How many entries a page holds when the request does not say.
pub const DEFAULT_LIMIT: u64 = 100;
/// The most entries one page may hold.
pub const MAX_LIMIT: u64 = 1000;

/// The ledger's routes; `api::router` puts them behind authentication.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/ledger", get(list))
        .route("/api/v1/ledger/verify", post(verify))
        .route("/api/v1/ledger/checkpoint", get(checkpoint))
}

/// The query string of `GET /api/v1/ledger`, as text: [`Filter::parse`] checks it.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
}

#[cfg(test)]
impl ListQuery {
    /// A query string given as `(name, value)` pairs, for tests here and in the console.
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> ListQuery {
        let mut query = ListQuery::default();
        for (name, value) in pairs {
            let value = Some((*value).to_owned());
            match *name {
                "action" => query.action = value,
                "actor" => query.actor = value,
                "subject" => query.subject = value,
                "env" => query.env = value,
                "limit" => query.limit = value,
                "before" => query.before = value,
                other => panic!("no parameter {other}"),
            }
        }
        query
    }
}

/// Which entries a request asks for. Empty parameters mean "any", so that a form's blank
/// fields filter nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Exact, or a prefix when the parameter ends in `*` (`deployment.*`).
    pub action: Option<TextMatch>,
    pub actor: Option<String>,
    /// Exact, or a prefix when the parameter ends in `*` (`deployment/*`).
    pub subject: Option<TextMatch>,
    pub env: Option<String>,
    /// At most this many entries, `1..=MAX_LIMIT`.
    pub limit: u64,
    /// Only entries with a smaller sequence number: the next page after one whose oldest
    /// entry was `before`.
    pub before: Option<u64>,
}

/// A text parameter: trimmed, absent when blank.
fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty()).map(str::to_owned)
}

/// `deploy*` as a prefix, anything else exactly. A lone `*` matches everything.
fn text_match(value: &Option<String>) -> Option<TextMatch> {
    let value = given(value)?;
    match value.strip_suffix('*') {
        Some("") => None,
        Some(prefix) => Some(TextMatch::Prefix(prefix.to_owned())),
        None => Some(TextMatch::Exact(value)),
    }
}

fn matches_text(wanted: &Option<TextMatch>, value: &str) -> bool {
    match wanted {
        None => true,
        Some(TextMatch::Exact(exact)) => value == exact,
        Some(TextMatch::Prefix(prefix)) => value.starts_with(prefix.as_str()),
    }
}

impl Filter {
    /// Checks the query string; the error says what is wrong with which parameter.
    pub fn parse(query: &ListQuery) -> Result<Filter, String> {
        let number = |name: &str, value: &Option<String>| -> Result<Option<u64>, String> {
            given(value)
                .map(|text| text.parse::<u64>().map_err(|_| format!("`{name}` must be a whole number, not `{text}`")))
                .transpose()
        };
        let limit = number("limit", &query.limit)?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(format!("`limit` must be between 1 and {MAX_LIMIT}, not {limit}"));
        }
        let before = number("before", &query.before)?;
        if before == Some(0) {
            return Err("`before` must be a sequence number of 1 or more".to_owned());
        }
        Ok(Filter {
            action: text_match(&query.action),
            actor: given(&query.actor),
            subject: text_match(&query.subject),
            env: given(&query.env),
            limit,
            before,
        })
    }

    /// Whether the store's indexed query can answer this alone: no subject, no page
    /// boundary and no scope, which it cannot express.
    fn store_only(&self, scope: Option<&[String]>) -> bool {
        self.subject.is_none() && self.before.is_none() && scope.is_none()
    }

    /// The store's query for the parts it can filter; one entry more than a page, to tell
    /// whether another page follows.
    fn store_query(&self) -> EntryQuery {
        EntryQuery {
            env: self.env.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            since: None,
            limit: Some(self.limit + 1),
        }
    }

    /// Whether `row` is wanted, and visible to a token scoped to `scope` (`None`: every
    /// environment; entries about no environment are visible to every token).
    pub fn matches(&self, row: &EntryRow, scope: Option<&[String]>) -> bool {
        let visible = match (scope, &row.env) {
            (Some(allowed), Some(env)) => allowed.iter().any(|name| name == env),
            _ => true,
        };
        visible
            && self.before.is_none_or(|before| row.seq < before)
            && matches_text(&self.action, &row.action)
            && matches_text(&self.subject, &row.subject)
            && self.actor.as_ref().is_none_or(|actor| &row.actor == actor)
            && self.env.as_ref().is_none_or(|env| row.env.as_ref() == Some(env))
    }
}

/// The newest `limit` matching rows of a walk over the ledger in sequence order, keeping no
/// more than `limit + 1` rows however long the ledger.
#[derive(Debug)]
pub struct Window<'f> {
    filter: &'f Filter,
    scope: Option<&'f [String]>,
    rows: VecDeque<EntryRow>,
    /// Whether a matching row was dropped for a newer one: another page follows.
    more: bool,
}

impl<'f> Window<'f> {
    pub fn new(filter: &'f Filter, scope: Option<&'f [String]>) -> Window<'f> {
        Window { filter, scope, rows: VecDeque::new(), more: false }
    }

    /// Takes the next row of the walk; breaks once rows can no longer be on the page.
    pub fn push(&mut self, row: EntryRow) -> ControlFlow<()> {
        if self.filter.before.is_some_and(|before| row.seq >= before) {
            return ControlFlow::Break(());
        }
        if self.filter.matches(&row, self.scope) {
            self.rows.push_back(row);
            if self.rows.len() as u64 > self.filter.limit {
                self.rows.pop_front();
                self.more = true;
            }
        }
        ControlFlow::Continue(())
    }

    /// The page, newest first, and the `before` of the next page when there is one.
    pub fn finish(self) -> Page {
        let mut rows: Vec<EntryRow> = self.rows.into_iter().rev().collect();
        let next_before = if self.more { rows.last().map(|row| row.seq) } else { None };
        rows.truncate(usize::try_from(self.filter.limit).unwrap_or(usize::MAX));
        Page { rows, next_before }
    }
}

/// One page of entries, newest first.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<EntryRow>,
    pub next_before: Option<u64>,
}

/// A page from the store's answer to [`Filter::store_query`] (oldest first, one row more
/// than the page when more exist).
fn page_of_store_rows(filter: &Filter, rows: Vec<EntryRow>) -> Page {
    let more = rows.len() as u64 > filter.limit;
    let mut rows: Vec<EntryRow> = rows.into_iter().rev().collect();
    rows.truncate(usize::try_from(filter.limit).unwrap_or(usize::MAX));
    let next_before = if more { rows.last().map(|row| row.seq) } else { None };
    Page { rows, next_before }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).hint(
        "e.g. `?action=deployment.*&actor=alice&subject=deployment/12&limit=50`; `before` is the `next_before` of the previous page",
    )
}

/// `GET /api/v1/ledger`: `{entries: [Entry], next_before: seq | null}`, newest first.
async fn list(
    State(state): Shared,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = Filter::parse(&query).map_err(invalid)?;
    let scope = caller.environments.clone();
    let page = state
        .executor
        .recorder
        .blocking(move |recorder| {
            recorder.store.read(|reader| {
                if filter.store_only(scope.as_deref()) {
                    return Ok(page_of_store_rows(&filter, reader.ledger_query(&filter.store_query())?));
                }
                // The store cannot filter by subject, page boundary or scope: walk the ledger in
                // order, keeping only a page's worth of rows.
                let mut window = Window::new(&filter, scope.as_deref());
                reader.ledger_entries(0, &mut |row| window.push(row))?;
                Ok::<_, RecordError>(window.finish())
            })
        })
        .await?;
    let mut entries = Vec::with_capacity(page.rows.len());
    for row in &page.rows {
        // Read from the hashed text, as `shipgate audit log` does, not from the filter columns.
        let entry = Entry::from_canonical(&row.body).map_err(|defect| {
            ApiError::internal(format!("ledger entry {} is malformed: {defect}", row.seq))
                .hint("run `shipgate audit verify` (or the console's Verify) to find what was changed")
        })?;
        entries.push(entry);
    }
    Ok(Json(json!({"entries": entries, "next_before": page.next_before})))
}

/// The answer to a verification, as `shipgate audit verify --format json` prints it.
pub fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Verified(verified) => json!({
            "ok": true,
            "entries": verified.size,
            "root": base64_hash(&verified.root),
            "origin": verified.origin,
            "stored_checkpoints": verified.stored_checkpoints,
            "signed_entries": verified.signed_size,
            "keys": verified.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Verdict::Failed(problem) => json!({"ok": false, "problem": problem}),
    }
}

/// `POST /api/v1/ledger/verify`: every entry's hash, the Merkle tree and every stored
/// checkpoint's signature and root. 200 whatever the verdict: `ok` says it.
async fn verify(State(state): Shared, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let verdict = state
        .executor
        .recorder
        .blocking(|recorder| Ok(shipgate_ledger::verify_store(&*recorder.store, &[], &[])?))
        .await?;
    let mut answer = verdict_json(&verdict);
    answer["elapsed_ms"] = json!(started.elapsed().as_millis());
    match &verdict {
        Verdict::Verified(verified) => {
            tracing::info!(by = %caller.name, entries = verified.size, "the ledger verified");
        }
        Verdict::Failed(problem) => {
            tracing::warn!(by = %caller.name, problem = %problem, "the ledger failed verification");
        }
    }
    Ok(Json(answer))
}

/// `GET /api/v1/ledger/checkpoint`: the newest stored checkpoint when it covers the whole
/// ledger, else a new one signed now, as `text/plain` with a file name to save it under.
async fn checkpoint(State(state): Shared) -> Result<Response, ApiError> {
    let (size, note) = state
        .executor
        .recorder
        .blocking(|recorder| {
            let (head, newest) = recorder.store.read(|reader| {
                let head = reader.ledger_head()?;
                let newest = reader.ledger_checkpoints()?.pop();
                Ok::<_, RecordError>((head, newest))
            })?;
            let key = recorder.ledger.public_key();
            if let Some(stored) = newest.filter(|stored| stored.tree_size == head.size)
                && UnverifiedCheckpoint::parse(&stored.note).is_ok_and(|parsed| parsed.verify(&[key]).is_ok())
            {
                return Ok((stored.tree_size, stored.note));
            }
            let signed = recorder.ledger.checkpoint()?;
            Ok((signed.checkpoint.size, signed.note))
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"shipgate-checkpoint-{size}.txt\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        note,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query string as `(name, value)` pairs.
    type Pairs = Vec<(&'static str, &'static str)>;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        ListQuery::from_pairs(pairs)
    }

    fn filter(pairs: &[(&str, &str)]) -> Filter {
        Filter::parse(&query(pairs)).unwrap()
    }

    fn row(seq: u64, actor: &str, action: &str, subject: &str, env: Option<&str>) -> EntryRow {
        EntryRow {
            seq,
            time: format!("2026-11-30T19:00:{seq:02}.000000000Z"),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            env: env.map(str::to_owned),
            body: String::new(),
            leaf_hash: Vec::new(),
        }
    }

    #[test]
    fn the_query_string_is_parsed_or_refused_with_the_reason() {
        let exact = |text: &str| Some(TextMatch::Exact(text.to_owned()));
        let prefix = |text: &str| Some(TextMatch::Prefix(text.to_owned()));
        let cases: Vec<(Pairs, Result<Filter, &str>)> = vec![
            (
                vec![],
                Ok(Filter { action: None, actor: None, subject: None, env: None, limit: DEFAULT_LIMIT, before: None }),
            ),
            // A form's blank fields filter nothing.
            (
                vec![("action", ""), ("actor", "  "), ("subject", ""), ("limit", ""), ("before", "")],
                Ok(Filter { action: None, actor: None, subject: None, env: None, limit: DEFAULT_LIMIT, before: None }),
            ),
            (
                vec![
                    ("action", "deployment.*"),
                    ("actor", " alice "),
                    ("subject", "deployment/12"),
                    ("env", "staging"),
                ],
                Ok(Filter {
                    action: prefix("deployment."),
                    actor: Some("alice".to_owned()),
                    subject: exact("deployment/12"),
                    env: Some("staging".to_owned()),
                    limit: DEFAULT_LIMIT,
                    before: None,
                }),
            ),
            (
                vec![("action", "*"), ("subject", "token/*"), ("limit", "5"), ("before", "40")],
                Ok(Filter {
                    action: None,
                    actor: None,
                    subject: prefix("token/"),
                    env: None,
                    limit: 5,
                    before: Some(40),
                }),
            ),
            (vec![("limit", "1000")], Ok(Filter { limit: 1000, ..filter(&[]) })),
            (vec![("limit", "0")], Err("`limit` must be between 1 and 1000, not 0")),
            (vec![("limit", "1001")], Err("`limit` must be between 1 and 1000, not 1001")),
            (vec![("limit", "ten")], Err("`limit` must be a whole number, not `ten`")),
            (vec![("before", "-3")], Err("`before` must be a whole number, not `-3`")),
            (vec![("before", "0")], Err("`before` must be a sequence number of 1 or more")),
        ];
        for (pairs, expected) in cases {
            let parsed = Filter::parse(&query(&pairs));
            assert_eq!(parsed, expected.map_err(str::to_owned), "{pairs:?}");
        }
    }

    /// Every filter has a case that keeps the row and one that drops it.
    #[test]
    fn rows_match_every_filter_and_the_scope() {
        let deploy = row(7, "alice", "deployment.created", "deployment/12", Some("staging"));
        let token = row(8, "admin", "token.created", "token/tok_1", None);
        let staging = vec!["staging".to_owned()];
        let production = vec!["production".to_owned()];
        let cases: Vec<(Pairs, Option<&[String]>, &EntryRow, bool)> = vec![
            (vec![], None, &deploy, true),
            (vec![("action", "deployment.created")], None, &deploy, true),
            (vec![("action", "deployment.create")], None, &deploy, false),
            (vec![("action", "deployment.*")], None, &deploy, true),
            (vec![("action", "token.*")], None, &deploy, false),
            (vec![("actor", "alice")], None, &deploy, true),
            (vec![("actor", "ali")], None, &deploy, false),
            (vec![("subject", "deployment/12")], None, &deploy, true),
            (vec![("subject", "deployment/1")], None, &deploy, false),
            (vec![("subject", "deployment/1*")], None, &deploy, true),
            (vec![("env", "staging")], None, &deploy, true),
            (vec![("env", "production")], None, &deploy, false),
            (vec![("env", "staging")], None, &token, false),
            (vec![("before", "8")], None, &deploy, true),
            (vec![("before", "7")], None, &deploy, false),
            (vec![], Some(&staging), &deploy, true),
            (vec![], Some(&production), &deploy, false),
            // Entries about no environment are visible to every token.
            (vec![], Some(&production), &token, true),
        ];
        for (pairs, scope, row, expected) in cases {
            assert_eq!(filter(&pairs).matches(row, scope), expected, "{pairs:?} scope {scope:?} on entry {}", row.seq);
        }
    }

    fn walk(filter: &Filter, scope: Option<&[String]>, rows: Vec<EntryRow>) -> (Vec<u64>, Option<u64>, usize) {
        let mut window = Window::new(filter, scope);
        let mut seen = 0;
        for row in rows {
            seen += 1;
            if window.push(row).is_break() {
                break;
            }
        }
        let page = window.finish();
        (page.rows.iter().map(|row| row.seq).collect(), page.next_before, seen)
    }

    #[test]
    fn the_window_keeps_the_newest_matching_rows_and_says_where_the_next_page_starts() {
        let ledger = || -> Vec<EntryRow> {
            (1..=10)
                .map(|seq| {
                    let action = if seq % 2 == 0 { "deployment.step-done" } else { "token.created" };
                    row(seq, "alice", action, &format!("deployment/{seq}"), Some("staging"))
                })
                .collect()
        };
        let cases: Vec<(Pairs, Vec<u64>, Option<u64>, usize)> = vec![
            (vec![("limit", "3")], vec![10, 9, 8], Some(8), 10),
            (vec![("limit", "10")], (1..=10).rev().collect(), None, 10),
            (vec![("limit", "20")], (1..=10).rev().collect(), None, 10),
            (vec![("action", "deployment.*"), ("limit", "2")], vec![10, 8], Some(8), 10),
            // The next page: the walk stops at `before` without reading further.
            (vec![("action", "deployment.*"), ("limit", "2"), ("before", "8")], vec![6, 4], Some(4), 8),
            (vec![("action", "deployment.*"), ("limit", "2"), ("before", "4")], vec![2], None, 4),
            (vec![("subject", "deployment/7")], vec![7], None, 10),
            (vec![("subject", "nothing")], vec![], None, 10),
        ];
        for (pairs, seqs, next_before, seen) in cases {
            assert_eq!(walk(&filter(&pairs), None, ledger()), (seqs, next_before, seen), "{pairs:?}");
        }
    }

    #[test]
    fn a_page_of_the_stores_rows_is_newest_first() {
        let rows = |seqs: &[u64]| -> Vec<EntryRow> {
            seqs.iter().map(|seq| row(*seq, "a", "x", "s", None)).collect::<Vec<_>>()
        };
        let two = filter(&[("limit", "2")]);
        let page = page_of_store_rows(&two, rows(&[3, 5, 9]));
        assert_eq!((page.rows.iter().map(|row| row.seq).collect::<Vec<_>>(), page.next_before), (vec![9, 5], Some(5)));
        let page = page_of_store_rows(&two, rows(&[5, 9]));
        assert_eq!((page.rows.iter().map(|row| row.seq).collect::<Vec<_>>(), page.next_before), (vec![9, 5], None));
        assert!(two.store_only(None) && !two.store_only(Some(&[])));
        assert!(!filter(&[("subject", "x")]).store_only(None) && !filter(&[("before", "3")]).store_only(None));
    }
}
