//! The matcher: bytes in, candidate secrets out. Pure: no I/O, no allocation per byte.
//!
//! 1. One Aho-Corasick DFA (ASCII case-insensitive, leftmost-longest) over the first
//!    `AUTOMATON_PREFIX` bytes of every keyword finds keyword candidates; the rest of each
//!    keyword, and its case where the rule wants it, is compared on a hit.
//! 2. Each hit opens a small window (its line, capped at a few KiB; up to 16 KiB after the
//!    keyword for multi-line formats) for the rules that own the keyword; windows of one
//!    rule that overlap are merged.
//! 3. Each rule's regex runs only inside its windows, and each match must pass the rule's
//!    entropy floor and check, the placeholder filter, the allowlists and inline
//!    `shipgate:allow` comments.
//! 4. When two findings overlap, the more specific rule wins ([`Confidence`]).

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use memchr::{memchr, memmem, memrchr};
use regex::bytes::{CaptureLocations, Regex, RegexBuilder};

use crate::Error;
use crate::filter;
use crate::rules::{Confidence, Rule, Scope};

/// How far before a keyword a single-line rule looks (the rest of a variable name).
const BACK: usize = 512;
/// How far after a keyword a single-line rule looks.
const FORWARD: usize = 2048;
/// How far before a keyword a multi-line rule looks (`<server>` before `<password>`).
const MULTILINE_BACK: usize = 1024;
/// How far after a keyword a multi-line rule looks: a 4096-bit RSA key in PEM is ~3.3 KiB,
/// a PGP secret key block a few KiB more.
const MULTILINE_FORWARD: usize = 16 * 1024;
/// The longest stretch of bytes one match can need, keyword window included; streams keep
/// this much from one chunk to the next so that nothing is missed at a boundary.
pub(crate) const MAX_WINDOW: usize = MULTILINE_BACK + MULTILINE_FORWARD + 1024;

/// The marker that silences findings on its line.
pub const ALLOW_MARKER: &[u8] = b"shipgate:allow";

/// One secret found in a buffer, before it is given a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub rule: usize,
    /// The secret's bytes within the buffer.
    pub start: usize,
    pub end: usize,
}

/// User-supplied ways to silence findings (from `[scan]` in `shipgate.toml`).
pub(crate) struct Allow {
    pub regexes: Vec<Regex>,
    /// Lowercase.
    pub stopwords: Vec<Vec<u8>>,
}

struct CompiledRule {
    rule: &'static Rule,
    regex: Regex,
    /// The capture group holding the secret; `None` means the whole match.
    groups: Vec<usize>,
}

/// A rule's keyword, found by the automaton through its first `AUTOMATON_PREFIX` bytes.
struct KeywordOwner {
    rule: usize,
    /// The whole keyword, lowercase.
    keyword: Box<[u8]>,
    /// For case-sensitive keywords, the exact spelling.
    exact: Option<Box<[u8]>>,
}

/// The automaton holds only this many leading bytes of each keyword; the rest is compared
/// on a hit. Short patterns make a small DFA that stays in cache, which is most of the
/// speed of the whole scanner.
const AUTOMATON_PREFIX: usize = 6;

pub(crate) struct Engine {
    rules: Vec<CompiledRule>,
    keywords: AhoCorasick,
    /// For each keyword, the other keywords that are its prefixes (and so match where it does).
    prefixes: Vec<Vec<usize>>,
    owners: Vec<Vec<KeywordOwner>>,
    /// Rules without keywords (scoped to some files): they see the whole buffer.
    unkeyed: Vec<usize>,
    allow: Allow,
}

/// Per-thread scratch space, so scanning a file allocates nothing in the common case.
#[derive(Default)]
struct Scratch {
    windows: Vec<(usize, usize, usize)>,
    candidates: Vec<Candidate>,
    locations: Vec<Option<CaptureLocations>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Engine {
    pub fn new(rules: impl IntoIterator<Item = &'static Rule>, allow: Allow) -> Result<Self, Error> {
        let mut compiled = Vec::new();
        let mut keyword_index: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<KeywordOwner>> = Vec::new();
        let mut unkeyed = Vec::new();
        for (index, rule) in rules.into_iter().enumerate() {
            // Bytes, not text: `\w`, `\s` and `\b` are ASCII, which keeps every automaton small.
            // Multi-line: a window starts at a line start, where `^` must match.
            let regex = RegexBuilder::new(rule.pattern)
                .unicode(false)
                .multi_line(true)
                .build()
                .map_err(|source| Error::Rule { rule: rule.id, source: Box::new(source) })?;
            let groups = match regex.capture_names().position(|name| name == Some("secret")) {
                Some(named) => vec![named],
                None => (1..regex.captures_len()).collect(),
            };
            compiled.push(CompiledRule { rule, regex, groups });
            if rule.keywords.is_empty() {
                unkeyed.push(index);
            }
            for keyword in rule.keywords {
                let lower = keyword.to_ascii_lowercase().into_bytes();
                let prefix = lower[..lower.len().min(AUTOMATON_PREFIX)].to_vec();
                let slot = match keyword_index.iter().position(|known| *known == prefix) {
                    Some(slot) => slot,
                    None => {
                        keyword_index.push(prefix);
                        owners.push(Vec::new());
                        owners.len() - 1
                    }
                };
                let exact = rule.case_sensitive.then(|| keyword.as_bytes().to_vec().into_boxed_slice());
                owners[slot].push(KeywordOwner { rule: index, keyword: lower.into_boxed_slice(), exact });
            }
        }
        // Leftmost-longest search is much faster than overlapping search; the keywords it
        // skips are recovered: those starting at the same byte are prefixes of the one found
        // (see `prefixes`), and the search resumes one byte after each hit.
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&keyword_index)
            .map_err(|source| Error::Keywords(Box::new(source)))?;
        let prefixes = keyword_index
            .iter()
            .enumerate()
            .map(|(index, keyword)| {
                keyword_index
                    .iter()
                    .enumerate()
                    .filter(|(other, prefix)| *other != index && keyword.starts_with(prefix))
                    .map(|(other, _)| other)
                    .collect()
            })
            .collect();
        Ok(Engine { rules: compiled, keywords, prefixes, owners, unkeyed, allow })
    }

    pub fn rule(&self, index: usize) -> &'static Rule {
        self.rules[index].rule
    }

    /// Every secret in `data`. `env_file` enables the rules scoped to `.env` files.
    pub fn find(&self, data: &[u8], env_file: bool) -> Vec<Candidate> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let scratch = &mut *scratch;
            if scratch.locations.len() != self.rules.len() {
                scratch.locations = self.rules.iter().map(|_| None).collect();
            }
            scratch.windows.clear();
            scratch.candidates.clear();
            self.collect_windows(data, env_file, &mut scratch.windows);
            for &(rule, start, end) in &scratch.windows {
                let compiled = &self.rules[rule];
                let locations = scratch.locations[rule].get_or_insert_with(|| compiled.regex.capture_locations());
                self.run_rule(rule, data, start, end, locations, &mut scratch.candidates);
            }
            resolve_overlaps(&mut scratch.candidates, |rule| self.rules[rule].rule.confidence);
            scratch.candidates.clone()
        })
    }

    fn collect_windows(&self, data: &[u8], env_file: bool, windows: &mut Vec<(usize, usize, usize)>) {
        let mut at = 0;
        while let Some(hit) = self.keywords.find(Input::new(data).span(at..data.len())) {
            at = hit.start() + 1;
            let found = hit.pattern().as_usize();
            for keyword in std::iter::once(found).chain(self.prefixes[found].iter().copied()) {
                self.keyword_windows(data, keyword, hit.start(), env_file, windows);
            }
        }
        if env_file {
            for &rule in &self.unkeyed {
                windows.push((rule, 0, data.len()));
            }
        }
        if windows.len() > 1 {
            windows.sort_unstable();
            let mut merged = 0;
            for index in 1..windows.len() {
                let next = windows[index];
                let current = &mut windows[merged];
                if next.0 == current.0 && next.1 <= current.2 {
                    current.2 = current.2.max(next.2);
                } else {
                    merged += 1;
                    windows[merged] = next;
                }
            }
            windows.truncate(merged + 1);
        }
    }

    /// The windows opened by `keyword` found at `start`.
    fn keyword_windows(
        &self,
        data: &[u8],
        keyword: usize,
        start: usize,
        env_file: bool,
        windows: &mut Vec<(usize, usize, usize)>,
    ) {
        for owner in &self.owners[keyword] {
            let end = start + owner.keyword.len();
            let Some(found) = data.get(start..end) else { continue };
            let matches = match &owner.exact {
                Some(exact) => found == &**exact,
                None => found.eq_ignore_ascii_case(&owner.keyword),
            };
            if !matches {
                continue;
            }
            let rule = self.rules[owner.rule].rule;
            if rule.scope == Scope::EnvFiles && !env_file {
                continue;
            }
            let (from, to) = if rule.multiline {
                (start.saturating_sub(MULTILINE_BACK), (end + MULTILINE_FORWARD).min(data.len()))
            } else {
                let low = start.saturating_sub(BACK);
                let high = (end + FORWARD).min(data.len());
                let from = memrchr(b'\n', &data[low..start]).map_or(low, |at| low + at + 1);
                let to = memchr(b'\n', &data[end..high]).map_or(high, |at| end + at);
                (from, to)
            };
            windows.push((owner.rule, from, to));
        }
    }

    fn run_rule(
        &self,
        index: usize,
        data: &[u8],
        start: usize,
        end: usize,
        locations: &mut CaptureLocations,
        out: &mut Vec<Candidate>,
    ) {
        let compiled = &self.rules[index];
        // The haystack ends at the window, but starts at the buffer's start so that `\b`
        // and `^` at the window's start see the byte before it.
        let haystack = &data[..end];
        let mut at = start;
        while at < end {
            let Some(found) = compiled.regex.captures_read_at(locations, haystack, at) else { break };
            at = if found.end() > found.start() { found.end() } else { found.end() + 1 };
            let secret =
                compiled.groups.iter().find_map(|group| locations.get(*group)).unwrap_or((found.start(), found.end()));
            if secret.0 >= secret.1 {
                continue;
            }
            if self.accept(compiled.rule, data, secret, (found.start(), found.end())) {
                out.push(Candidate { rule: index, start: secret.0, end: secret.1 });
            }
        }
    }

    fn accept(&self, rule: &Rule, data: &[u8], secret: (usize, usize), whole: (usize, usize)) -> bool {
        let bytes = &data[secret.0..secret.1];
        if rule.entropy.is_some_and(|floor| filter::entropy(bytes) < floor) {
            return false;
        }
        if filter::is_placeholder(bytes) {
            return false;
        }
        if rule.check.is_some_and(|check| !check(bytes, &data[whole.0..whole.1])) {
            return false;
        }
        if self.allow.regexes.iter().any(|regex| regex.is_match(bytes)) {
            return false;
        }
        if !self.allow.stopwords.is_empty() {
            let lower = bytes.to_ascii_lowercase();
            if self.allow.stopwords.iter().any(|word| memmem::find(&lower, word).is_some()) {
                return false;
            }
        }
        let line_start = memrchr(b'\n', &data[..whole.0]).map_or(0, |at| at + 1);
        let line_end = memchr(b'\n', &data[whole.1..]).map_or(data.len(), |at| whole.1 + at);
        memmem::find(&data[line_start..line_end], ALLOW_MARKER).is_none()
    }
}

/// Keeps one finding per secret: candidates are taken best first (the most specific rule,
/// then the longest match, then the first rule) and each is kept only if it overlaps none
/// already kept.
fn resolve_overlaps(candidates: &mut Vec<Candidate>, confidence: impl Fn(usize) -> Confidence) {
    if candidates.len() < 2 {
        return;
    }
    candidates.sort_unstable_by_key(|candidate| {
        (
            confidence(candidate.rule),
            std::cmp::Reverse(candidate.end - candidate.start),
            candidate.rule,
            candidate.start,
        )
    });
    // Kept spans by start; kept spans never overlap, so only the neighbours need a look.
    let mut kept: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    candidates.retain(|candidate| {
        let before = kept.range(..=candidate.start).next_back().is_some_and(|(_, end)| *end > candidate.start);
        let after = kept.range(candidate.start..candidate.end).next().is_some();
        if before || after {
            return false;
        }
        kept.insert(candidate.start, candidate.end);
        true
    });
    candidates.sort_unstable_by_key(|candidate| (candidate.start, candidate.end, candidate.rule));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_candidates_keep_the_most_specific() {
        let mut candidates = vec![
            Candidate { rule: 7, start: 10, end: 50 },
            Candidate { rule: 1, start: 12, end: 48 },
            Candidate { rule: 2, start: 60, end: 70 },
        ];
        let confidence = |rule: usize| if rule == 7 { Confidence::Generic } else { Confidence::Exact };
        resolve_overlaps(&mut candidates, confidence);
        assert_eq!(
            candidates,
            vec![Candidate { rule: 1, start: 12, end: 48 }, Candidate { rule: 2, start: 60, end: 70 }]
        );
    }
}
