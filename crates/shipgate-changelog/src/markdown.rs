//! Putting an entry into an existing `CHANGELOG.md`.

use crate::entry::Entry;

/// The title a new change log starts with.
pub const TITLE: &str = "# Changelog";

/// `existing` (the file's text, empty when there is none) with `entry` in it: replacing the
/// entry of the same version where it is, else first, below the title and any text before the
/// first entry. Entries are `## VERSION …` headings (`## [VERSION] …` too, as Keep a Changelog
/// writes them); headings inside fenced code blocks do not count. Idempotent: inserting the
/// same entry again gives the same text.
pub fn insert(existing: &str, entry: &Entry) -> String {
    let (preamble, mut entries) = split(existing);
    let block = entry.render();
    match entries.iter_mut().find(|(version, _)| *version == entry.version) {
        Some((_, old)) => *old = block,
        None => entries.insert(0, (entry.version.clone(), block)),
    }
    let preamble = preamble.trim_end();
    let mut out = if preamble.trim().is_empty() { TITLE.to_owned() } else { preamble.to_owned() };
    for (_, block) in &entries {
        out.push_str("\n\n");
        out.push_str(block.trim_end());
    }
    out.push('\n');
    out
}

/// The text before the first entry, and each entry's version and text.
fn split(text: &str) -> (String, Vec<(String, String)>) {
    let mut preamble = String::new();
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut fenced = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
        }
        let version = if fenced { None } else { heading_version(line) };
        match (version, entries.last_mut()) {
            (Some(version), _) => entries.push((version, line.to_owned())),
            (None, Some((_, block))) => block.push_str(line),
            (None, None) => preamble.push_str(line),
        }
    }
    (preamble, entries)
}

/// `1.2.0` of `## 1.2.0 (2026-05-01)` or `## [1.2.0] - 2026-05-01`.
fn heading_version(line: &str) -> Option<String> {
    let rest = line.strip_prefix("## ")?;
    let word = rest.split_whitespace().next()?;
    let word = word.strip_prefix('[').and_then(|word| word.strip_suffix(']')).unwrap_or(word);
    Some(word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::Commit;

    fn entry(version: &str, subjects: &[&str]) -> Entry {
        let commits: Vec<Commit> = subjects
            .iter()
            .map(|subject| Commit { hash: "abcdef0123".into(), subject: (*subject).into(), body: String::new() })
            .collect();
        Entry::new(version, Some("2026-05-01"), &commits)
    }

    #[test]
    fn entries_go_first_below_the_title_and_replace_their_own_version() {
        let v1 = entry("v1", &["feat: one"]);
        let v2 = entry("v2", &["fix: two"]);
        let v2_more = entry("v2", &["fix: two", "feat: three"]);
        let cases: &[(&str, &str, &Entry, &str)] = &[
            (
                "a new file gets a title",
                "",
                &v1,
                "# Changelog\n\n## v1 (2026-05-01)\n\n### Features\n\n- one (abcdef0)\n",
            ),
            (
                "the newest entry goes first, below the title and its text",
                "# Changes\n\nAll notable changes.\n\n## v1 (2026-05-01)\n\n### Features\n\n- one (abcdef0)\n",
                &v2,
                "# Changes\n\nAll notable changes.\n\n## v2 (2026-05-01)\n\n### Bug fixes\n\n- two (abcdef0)\n\n\
                 ## v1 (2026-05-01)\n\n### Features\n\n- one (abcdef0)\n",
            ),
            (
                "the same version is replaced where it is",
                "# Changelog\n\n## v2 (2026-04-30)\n\n- old\n\n## v1\n\n- one\n",
                &v2_more,
                "# Changelog\n\n## v2 (2026-05-01)\n\n### Features\n\n- three (abcdef0)\n\n### Bug fixes\n\n- two (abcdef0)\n\n\
                 ## v1\n\n- one\n",
            ),
            (
                "keep-a-changelog headings are recognised",
                "# Changelog\n\n## [v2] - 2026-04-30\n\n- old\n",
                &v2,
                "# Changelog\n\n## v2 (2026-05-01)\n\n### Bug fixes\n\n- two (abcdef0)\n",
            ),
            (
                "headings in code blocks are text",
                "# Changelog\n\nExample:\n\n```\n## v2\n```\n",
                &v2,
                "# Changelog\n\nExample:\n\n```\n## v2\n```\n\n## v2 (2026-05-01)\n\n### Bug fixes\n\n- two (abcdef0)\n",
            ),
        ];
        for (name, existing, entry, expected) in cases {
            let once = insert(existing, entry);
            assert_eq!(once, *expected, "{name}");
            assert_eq!(insert(&once, entry), once, "{name}: not idempotent");
        }
    }
}
