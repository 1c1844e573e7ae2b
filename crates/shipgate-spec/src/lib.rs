//! The model of `shipgate.toml`: parsing and validation with precise diagnostics.
//!
//! [`parse`] takes the file's bytes and returns either the [`Spec`] or a [`Report`] of
//! every problem found, each with a span, a message and a hint. This crate does no I/O.

#![forbid(unsafe_code)]

mod decode;
pub mod diagnostic;
pub mod model;
mod schema;
mod sections;
mod suggest;
pub mod values;

pub use diagnostic::{Code, Diagnostic, LineIndex, Position, Report};
pub use model::*;
pub use schema::json_schema;
pub use sections::ENVIRONMENT_KEYS;

/// The largest `shipgate.toml` accepted. Real files are a few kilobytes; a limit keeps a
/// mistaken path (a log, a binary) from being read into memory whole.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// The conventional file name.
pub const FILE_NAME: &str = "shipgate.toml";

/// Parses and validates a `shipgate.toml` given as bytes.
pub fn parse(bytes: &[u8]) -> Result<Spec, Report> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Report {
            source: String::new(),
            diagnostics: vec![
                Diagnostic::new(
                    Code::FileTooLarge,
                    0..0,
                    format!(
                        "the file is {} bytes, more than the {} bytes a shipgate.toml may have",
                        bytes.len(),
                        MAX_SPEC_BYTES
                    ),
                )
                .with_hint("check that `--file` names the right file"),
            ],
        });
    }
    let source = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let offset = error.valid_up_to();
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            // The prefix is valid UTF-8, so the offset is the same in the lossy text; the
            // replacement character there is 3 bytes long.
            return Err(Report {
                source: lossy,
                diagnostics: vec![
                    Diagnostic::new(
                        Code::NotUtf8,
                        offset..offset + 3,
                        format!("the file is not UTF-8: invalid byte 0x{:02x} at offset {offset}", bytes[offset]),
                    )
                    .with_label("not UTF-8")
                    .with_hint("TOML files are UTF-8; re-save the file as UTF-8"),
                ],
            });
        }
    };
    parse_str(source)
}

/// Parses and validates a `shipgate.toml` given as text.
pub fn parse_str(source: &str) -> Result<Spec, Report> {
    let report = |diagnostics: Vec<Diagnostic>| Report { source: source.to_owned(), diagnostics };
    let document =
        toml_edit::Document::parse(source).map_err(|error| report(vec![syntax_diagnostic(source, &error)]))?;
    let mut decoder = decode::Decoder::default();
    let spec = sections::decode_spec(&decode::Node::root(document.as_item()), &mut decoder);
    let mut diagnostics = decoder.diagnostics;
    match spec {
        Some(spec) if diagnostics.is_empty() => Ok(spec),
        _ => {
            diagnostics.sort_by_key(|diagnostic| (diagnostic.span.start, diagnostic.span.end));
            diagnostics.dedup();
            Err(report(diagnostics))
        }
    }
}

fn syntax_diagnostic(source: &str, error: &toml_edit::TomlError) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let message = error.message().trim().to_owned();
    if message.starts_with("duplicate key") {
        let key = source.get(span.clone()).unwrap_or("").trim();
        return Diagnostic::new(Code::DuplicateKey, span, format!("`{key}` is defined more than once"))
            .with_label("defined again here")
            .with_hint("keep one definition and remove the others");
    }
    let (first, rest) = message.split_once('\n').unwrap_or((&message, ""));
    let mut diagnostic = Diagnostic::new(Code::TomlSyntax, span, format!("invalid TOML: {first}"));
    let rest = rest.trim();
    if !rest.is_empty() {
        diagnostic = diagnostic.with_label(rest.replace('\n', "; "));
    }
    diagnostic.with_hint("see https://toml.io/en/v1.0.0 for the syntax")
}
