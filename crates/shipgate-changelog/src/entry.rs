//! A release's entry: its commits grouped by conventional-commit type.

use crate::commit::{Commit, parse};

/// The groups of an entry, in the order they are shown, by conventional-commit type.
pub const GROUPS: [(&str, &str); 11] = [
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("test", "Tests"),
    ("build", "Build"),
    ("ci", "Continuous integration"),
    ("style", "Style"),
    ("chore", "Chores"),
    ("revert", "Reverts"),
];

/// The title of breaking changes (shown first) and of everything else (shown last).
const BREAKING: &str = "Breaking changes";
const OTHER: &str = "Other changes";

/// One line of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub scope: Option<String>,
    pub text: String,
    /// The commit's abbreviated hash.
    pub hash: String,
    /// What breaks, for breaking changes whose footer says.
    pub note: Option<String>,
}

/// A titled list of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub title: &'static str,
    pub items: Vec<Item>,
}

/// The change log entry of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: String,
    /// `YYYY-MM-DD`, shown after the version.
    pub date: Option<String>,
    /// Breaking changes first, then the [`GROUPS`] that have commits, then other changes.
    /// With no conventional commit at all, a single untitled group (see [`Entry::render`]).
    pub groups: Vec<Group>,
    /// Whether any commit was a conventional commit.
    pub conventional: bool,
}

impl Entry {
    /// Groups `commits` (in the order given, usually newest first). A breaking change is
    /// listed once, under breaking changes; a commit of an unknown type, or not a conventional
    /// commit, under other changes with its whole subject.
    pub fn new(version: &str, date: Option<&str>, commits: &[Commit]) -> Entry {
        let mut breaking = Vec::new();
        let mut typed: Vec<Vec<Item>> = vec![Vec::new(); GROUPS.len()];
        let mut other = Vec::new();
        let mut conventional = false;
        for commit in commits {
            let parsed = parse(commit);
            conventional |= parsed.kind.is_some();
            let hash = commit.hash.chars().take(7).collect();
            let group = parsed.kind.as_deref().and_then(|kind| GROUPS.iter().position(|(name, _)| *name == kind));
            let (scope, text) = match group {
                Some(_) => (parsed.scope, parsed.description),
                // An unknown type (`wip: …`) or no type: the subject as written.
                None => (None, commit.subject.trim().to_owned()),
            };
            let item = Item { scope, text, hash, note: parsed.breaking_note };
            match (parsed.breaking, group) {
                (true, _) => breaking.push(item),
                (false, Some(index)) => typed[index].push(item),
                (false, None) => other.push(item),
            }
        }
        let mut groups = Vec::new();
        if !breaking.is_empty() {
            groups.push(Group { title: BREAKING, items: breaking });
        }
        for ((_, title), items) in GROUPS.iter().zip(typed) {
            if !items.is_empty() {
                groups.push(Group { title, items });
            }
        }
        if !other.is_empty() {
            groups.push(Group { title: OTHER, items: other });
        }
        Entry { version: version.to_owned(), date: date.map(str::to_owned), groups, conventional }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|group| group.items.is_empty())
    }

    /// The `## VERSION (DATE)` heading line, without the newline.
    pub fn heading(&self) -> String {
        match &self.date {
            Some(date) => format!("## {} ({date})", self.version),
            None => format!("## {}", self.version),
        }
    }

    /// Markdown: the heading, then a `###` section per group; a repository that does not use
    /// conventional commits gets one plain list (and its breaking changes, if footers said so).
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.heading());
        let titled = self.conventional || self.groups.len() > 1;
        for group in &self.groups {
            if titled {
                out.push_str(&format!("\n### {}\n", group.title));
            }
            out.push('\n');
            for item in &group.items {
                let scope = item.scope.as_deref().map(|scope| format!("**{scope}:** ")).unwrap_or_default();
                out.push_str(&format!("- {scope}{} ({})\n", item.text, item.hash));
                if let Some(note) = &item.note {
                    out.push_str(&format!("  {note}\n"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commits(messages: &[(&str, &str)]) -> Vec<Commit> {
        messages
            .iter()
            .enumerate()
            .map(|(index, (subject, body))| Commit {
                hash: format!("{index:07}abcdef"),
                subject: (*subject).into(),
                body: (*body).into(),
            })
            .collect()
    }

    #[test]
    fn conventional_commits_are_grouped_breaking_changes_first() {
        let entry = Entry::new(
            "1.2.0",
            Some("2026-05-01"),
            &commits(&[
                ("fix(api): refuse empty versions", ""),
                ("feat: a change log", ""),
                ("Update the README", ""),
                ("feat(cli)!: `deploy` waits by default", ""),
                ("docs: explain notifications", ""),
                ("wip: half a thing", ""),
                ("perf: fewer allocations", "BREAKING CHANGE: needs Rust 1.95"),
                ("feat(cli): `changelog --write`", ""),
            ]),
        );
        assert_eq!(
            entry.render(),
            "## 1.2.0 (2026-05-01)\n\
             \n### Breaking changes\n\n\
             - **cli:** `deploy` waits by default (0000003)\n\
             - fewer allocations (0000006)\n  needs Rust 1.95\n\
             \n### Features\n\n\
             - a change log (0000001)\n\
             - **cli:** `changelog --write` (0000007)\n\
             \n### Bug fixes\n\n\
             - **api:** refuse empty versions (0000000)\n\
             \n### Documentation\n\n\
             - explain notifications (0000004)\n\
             \n### Other changes\n\n\
             - Update the README (0000002)\n\
             - wip: half a thing (0000005)\n"
        );
    }

    #[test]
    fn a_repository_without_conventional_commits_gets_a_plain_list() {
        let entry = Entry::new("v2", None, &commits(&[("Fix the build", ""), ("Add a page", "")]));
        assert!(!entry.conventional);
        assert_eq!(entry.render(), "## v2\n\n- Fix the build (0000000)\n- Add a page (0000001)\n");
    }

    #[test]
    fn no_commits_make_an_empty_entry() {
        let entry = Entry::new("v2", None, &[]);
        assert!(entry.is_empty());
        assert_eq!(entry.render(), "## v2\n");
    }
}
