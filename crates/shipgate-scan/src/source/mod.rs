//! Where bytes come from: directory trees, git, archives. Everything here streams: a file
//! is read in chunks of [`CHUNK`] bytes that overlap by [`OVERLAP`], so memory stays
//! bounded whatever the file's size.

pub mod archive;
pub mod dir;
pub mod git;

use std::io::{self, Read};

use memchr::{memchr_iter, memrchr};

use crate::finding::{Commit, Finding, Location, fingerprint, redact};
use crate::{Scanner, Stats};

/// Bytes scanned at once.
pub(crate) const CHUNK: usize = 4 * 1024 * 1024;
/// Bytes carried from one chunk to the next; longer than any match and its window.
pub(crate) const OVERLAP: usize = 64 * 1024;
/// A file with a NUL byte in its first bytes is binary and skipped.
const BINARY_SNIFF: usize = 8 * 1024;

const _: () = assert!(OVERLAP > crate::engine::MAX_WINDOW && CHUNK > 2 * OVERLAP);

/// What the findings of one file are attributed to.
pub(crate) struct FileContext<'a> {
    pub container: &'a [String],
    pub path: &'a str,
    pub commit: Option<&'a Commit>,
    pub env_file: bool,
}

/// The line and column of a buffer's first byte within its file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub line: u64,
    pub column: u64,
}

impl Origin {
    pub const START: Origin = Origin { line: 1, column: 1 };

    /// The origin of `buffer[consumed..]`, given the origin of `buffer`.
    fn advance(self, buffer: &[u8]) -> Origin {
        let newlines = memchr_iter(b'\n', buffer).count() as u64;
        match memrchr(b'\n', buffer) {
            Some(last) => Origin { line: self.line + newlines, column: (buffer.len() - last) as u64 },
            None => Origin { line: self.line, column: self.column + buffer.len() as u64 },
        }
    }
}

pub(crate) fn is_binary(head: &[u8]) -> bool {
    memchr::memchr(0, &head[..head.len().min(BINARY_SNIFF)]).is_some()
}

/// Scans `data` and appends a finding for each secret that starts before `limit`.
/// `line_of` maps a 1-based line of `data` to the line to report (git history has gaps).
pub(crate) fn findings_in(
    scanner: &Scanner,
    data: &[u8],
    context: &FileContext<'_>,
    origin: Origin,
    limit: usize,
    out: &mut Vec<Finding>,
) {
    findings_mapped(scanner, data, context, origin, limit, &|line| line, out);
}

pub(crate) fn findings_mapped(
    scanner: &Scanner,
    data: &[u8],
    context: &FileContext<'_>,
    origin: Origin,
    limit: usize,
    line_of: &dyn Fn(u64) -> u64,
    out: &mut Vec<Finding>,
) {
    let engine = scanner.engine();
    let candidates = engine.find(data, context.env_file);
    // Candidates come sorted by start: count lines incrementally.
    let mut counted = 0;
    let mut position = origin;
    for candidate in candidates.into_iter().filter(|candidate| candidate.start < limit) {
        position = position.advance(&data[counted..candidate.start]);
        counted = candidate.start;
        let rule = engine.rule(candidate.rule);
        let secret = &data[candidate.start..candidate.end];
        let location = Location {
            container: context.container.to_vec(),
            path: context.path.to_owned(),
            line: line_of(position.line),
            column: position.column,
            commit: context.commit.cloned(),
        };
        out.push(Finding {
            rule: rule.id,
            description: rule.description,
            fingerprint: fingerprint(rule.id, &location, secret),
            redacted: redact(secret),
            location,
        });
    }
}

/// Reads from `reader` until `buffer` holds `CHUNK` bytes or the input ends; true at the end.
fn fill(reader: &mut dyn Read, buffer: &mut Vec<u8>) -> io::Result<bool> {
    let want = CHUNK.saturating_sub(buffer.len()) as u64;
    let read = reader.take(want).read_to_end(buffer)?;
    Ok((read as u64) < want)
}

/// Scans a stream chunk by chunk. Returns `None` for binary input, else the bytes read.
pub(crate) fn scan_stream(
    scanner: &Scanner,
    reader: &mut dyn Read,
    context: &FileContext<'_>,
    buffer: &mut Vec<u8>,
    out: &mut Vec<Finding>,
) -> io::Result<Option<u64>> {
    buffer.clear();
    let mut eof = fill(reader, buffer)?;
    if is_binary(buffer) {
        return Ok(None);
    }
    let mut total = buffer.len() as u64;
    let mut origin = Origin::START;
    loop {
        // A secret starting in the last `OVERLAP` bytes is reported with the next chunk,
        // which holds all of it.
        let limit = if eof { buffer.len() } else { buffer.len() - OVERLAP };
        findings_in(scanner, buffer, context, origin, limit, out);
        if eof {
            return Ok(Some(total));
        }
        origin = origin.advance(&buffer[..limit]);
        buffer.drain(..limit);
        let before = buffer.len();
        eof = fill(reader, buffer)?;
        total += (buffer.len() - before) as u64;
    }
}

/// Adds a stream's outcome to `stats`.
pub(crate) fn count(stats: &mut Stats, outcome: Option<u64>) {
    match outcome {
        Some(bytes) => {
            stats.files += 1;
            stats.bytes += bytes;
        }
        None => stats.binary += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_tracks_lines_and_columns() {
        let origin = Origin::START.advance(b"ab\ncd");
        assert_eq!((origin.line, origin.column), (2, 3));
        let origin = origin.advance(b"ef");
        assert_eq!((origin.line, origin.column), (2, 5));
        let origin = origin.advance(b"\n");
        assert_eq!((origin.line, origin.column), (3, 1));
    }
}
