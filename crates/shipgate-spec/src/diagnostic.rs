//! Diagnostics: what is wrong with a `shipgate.toml`, where, and what to do about it.

use std::ops::Range;

use serde::Serialize;

/// Stable identifiers for every kind of problem the spec can have.
///
/// They appear in `--format json` output and in the documentation, so a name, once
/// released, never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The file is not UTF-8.
    NotUtf8,
    /// The file is larger than [`crate::MAX_SPEC_BYTES`].
    FileTooLarge,
    /// The TOML itself does not parse.
    TomlSyntax,
    /// The same key is defined twice.
    DuplicateKey,
    /// A key that shipgate does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong TOML type.
    WrongType,
    /// A value of the right type that is not allowed.
    InvalidValue,
    /// An environment sets something other than scale parameters and delivery policy.
    EnvironmentParity,
    /// `requires` names an environment that does not exist.
    UnknownEnvironment,
    /// `requires` forms a cycle.
    RequiresCycle,
    /// Canary weights must increase from step to step.
    WeightsNotIncreasing,
    /// A secret's value was written into the file.
    SecretValueInSpec,
    /// Two declarations contradict each other.
    Conflict,
    /// A secret is used but not declared under `[secrets]`.
    UndeclaredSecret,
}

impl Code {
    /// The kebab-case name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotUtf8 => "not-utf8",
            Code::FileTooLarge => "file-too-large",
            Code::TomlSyntax => "toml-syntax",
            Code::DuplicateKey => "duplicate-key",
            Code::UnknownKey => "unknown-key",
            Code::MissingKey => "missing-key",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::EnvironmentParity => "environment-parity",
            Code::UnknownEnvironment => "unknown-environment",
            Code::RequiresCycle => "requires-cycle",
            Code::WeightsNotIncreasing => "weights-not-increasing",
            Code::SecretValueInSpec => "secret-value-in-spec",
            Code::Conflict => "conflict",
            Code::UndeclaredSecret => "undeclared-secret",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in the spec, located by a byte range of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// Byte range in [`Report::source`]; may be empty (a point).
    pub span: Range<usize>,
    /// Short text shown under the caret.
    pub label: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic { code, message: message.into(), span, label: None, hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// Everything wrong with one spec file, with the text the spans point into.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file's text. Not-UTF-8 input is shown lossily; spans stay valid in it.
    pub source: String,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Maps byte offsets of a source text to lines and columns.
pub struct LineIndex<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> Self {
        let line_starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { source, line_starts }
    }

    /// The position of byte `offset`; offsets past the end or inside a character are clamped.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let column = self.source[self.line_starts[line]..offset].chars().count() + 1;
        Position { line: line + 1, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let index = LineIndex::new("ab\nçd\n\nx");
        let cases = [
            (0, (1, 1)),
            (2, (1, 3)),
            (3, (2, 1)),
            (5, (2, 2)), // after the two-byte `ç`
            (7, (3, 1)),
            (8, (4, 1)),
            (99, (4, 2)),
        ];
        for (offset, (line, column)) in cases {
            assert_eq!(index.position(offset), Position { line, column }, "offset {offset}");
        }
    }

    #[test]
    fn position_inside_a_character_is_clamped_back() {
        let index = LineIndex::new("ç");
        assert_eq!(index.position(1), Position { line: 1, column: 1 });
    }
}
