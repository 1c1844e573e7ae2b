//! One commit, and its message read as a conventional commit when it is one
//! (<https://www.conventionalcommits.org/en/v1.0.0/>).

/// A commit as `git log` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub hash: String,
    /// The first line of the message.
    pub subject: String,
    /// The rest of the message (may be empty).
    pub body: String,
}

/// What a commit message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The type in lowercase (`feat`, `fix`, …); `None` for a message that is not a
    /// conventional commit.
    pub kind: Option<String>,
    pub scope: Option<String>,
    /// The description (the whole subject when not conventional).
    pub description: String,
    /// `!` after the type or scope, or a `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer.
    pub breaking: bool,
    /// The footer's text, when a footer said what breaks.
    pub breaking_note: Option<String>,
}

/// Reads a commit's message. Never fails: a message that is not a conventional commit is
/// kept as it is, with no type.
pub fn parse(commit: &Commit) -> Parsed {
    let subject = commit.subject.trim();
    let (breaking_footer, breaking_note) = breaking_footer(&commit.body);
    match conventional(subject) {
        Some((kind, scope, bang, description)) => Parsed {
            kind: Some(kind.to_ascii_lowercase()),
            scope: scope.map(str::to_owned),
            description: description.to_owned(),
            breaking: bang || breaking_footer,
            breaking_note,
        },
        None => Parsed {
            kind: None,
            scope: None,
            description: subject.to_owned(),
            breaking: breaking_footer,
            breaking_note,
        },
    }
}

/// `type(scope)!: description`, split; `None` when the subject is not of that shape.
fn conventional(subject: &str) -> Option<(&str, Option<&str>, bool, &str)> {
    let (head, description) = subject.split_once(':')?;
    let description = description.trim();
    if description.is_empty() || head.contains(char::is_whitespace) {
        return None;
    }
    let (head, bang) = match head.strip_suffix('!') {
        Some(head) => (head, true),
        None => (head, false),
    };
    let (kind, scope) = match head.split_once('(') {
        Some((kind, rest)) => {
            let scope = rest.strip_suffix(')')?;
            if scope.is_empty() || scope.contains(['(', ')']) {
                return None;
            }
            (kind, Some(scope))
        }
        None => (head, None),
    };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    Some((kind, scope, bang, description))
}

/// A `BREAKING CHANGE: text` (or `BREAKING-CHANGE:`) line of the body, and its text
/// including the lines that continue it (up to a blank line).
fn breaking_footer(body: &str) -> (bool, Option<String>) {
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let rest = line.strip_prefix("BREAKING CHANGE:").or_else(|| line.strip_prefix("BREAKING-CHANGE:"));
        if let Some(rest) = rest {
            let mut note = rest.trim().to_owned();
            for more in lines.by_ref().take_while(|line| !line.trim().is_empty()) {
                if !note.is_empty() {
                    note.push(' ');
                }
                note.push_str(more.trim());
            }
            return (true, (!note.is_empty()).then_some(note));
        }
    }
    (false, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(subject: &str, body: &str) -> Commit {
        Commit { hash: "0123456789abcdef".into(), subject: subject.into(), body: body.into() }
    }

    #[test]
    fn messages_are_read_as_conventional_commits_when_they_are() {
        // (subject, body, kind, scope, description, breaking, note)
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str, bool, Option<&'a str>);
        let cases: &[Case] = &[
            ("feat: add a change log", "", Some("feat"), None, "add a change log", false, None),
            ("fix(api): refuse empty versions", "", Some("fix"), Some("api"), "refuse empty versions", false, None),
            ("Feat(CLI): shout", "", Some("feat"), Some("CLI"), "shout", false, None),
            ("feat!: drop the v0 API", "", Some("feat"), None, "drop the v0 API", true, None),
            ("refactor(store)!: new schema", "", Some("refactor"), Some("store"), "new schema", true, None),
            (
                "perf: faster proxy",
                "Details.\n\nBREAKING CHANGE: `listen` must be an address\nnow, not a port\n\nRefs: #12",
                Some("perf"),
                None,
                "faster proxy",
                true,
                Some("`listen` must be an address now, not a port"),
            ),
            ("docs: typo", "BREAKING-CHANGE: none really", Some("docs"), None, "typo", true, Some("none really")),
            // Not conventional: kept whole.
            ("Fix the build", "", None, None, "Fix the build", false, None),
            ("Merge branch 'main': again", "", None, None, "Merge branch 'main': again", false, None),
            ("feat:", "", None, None, "feat:", false, None),
            ("feat(: x", "", None, None, "feat(: x", false, None),
            ("feat(): x", "", None, None, "feat(): x", false, None),
            ("v2: x", "", None, None, "v2: x", false, None),
            (
                "Update README",
                "BREAKING CHANGE: the old flag is gone",
                None,
                None,
                "Update README",
                true,
                Some("the old flag is gone"),
            ),
            // A footer must start its line.
            ("chore: bump", "mentions BREAKING CHANGE: inline", Some("chore"), None, "bump", false, None),
        ];
        for (subject, body, kind, scope, description, breaking, note) in cases {
            let parsed = parse(&commit(subject, body));
            let expected = Parsed {
                kind: kind.map(str::to_owned),
                scope: scope.map(str::to_owned),
                description: (*description).to_owned(),
                breaking: *breaking,
                breaking_note: note.map(str::to_owned),
            };
            assert_eq!(parsed, expected, "{subject:?} / {body:?}");
        }
    }
}
