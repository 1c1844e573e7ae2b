//! Pointing findings at lines of the spec's text.

use shipgate_spec::LineIndex;
use toml_edit::{Document, Item};

/// Finds the line of a key path (`["environments", "production", "strategy"]`) in the spec.
pub(crate) struct Locator<'a> {
    text: &'a str,
    document: Option<Document<&'a str>>,
    lines: LineIndex<'a>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator { text, document: Document::parse(text).ok(), lines: LineIndex::new(text) }
    }

    /// The line of the deepest key of `path` that the text has: the key itself when present,
    /// else its table's header, and so on up. `None` when not even the first key is there.
    pub fn line(&self, path: &[&str]) -> Option<u32> {
        let document = self.document.as_ref()?;
        let mut current: &Item = document.as_item();
        let mut best = None;
        for key in path {
            let Some((found, item)) = current.as_table_like().and_then(|table| table.get_key_value(key)) else {
                break;
            };
            if let Some(span) = found.span().or_else(|| item.span()) {
                best = Some(span.start);
            }
            current = item;
        }
        best.filter(|offset| *offset <= self.text.len())
            .map(|offset| u32::try_from(self.lines.position(offset).line).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_or_their_nearest_parent() {
        let text = "[app]\nname = \"x\"\n\n[run]\ncommand = [\"x\"]\n\n[environments.production]\nlisten = \"0.0.0.0:80\"\nrequires = [\"staging\"]\nstrategy = { canary = [] }\n\n[environments.staging]\nlisten = \"127.0.0.1:8080\"\n";
        let locator = Locator::new(text);
        let cases: [(&[&str], Option<u32>); 7] = [
            (&["app", "name"], Some(2)),
            (&["run"], Some(4)),
            (&["run", "health"], Some(4)),
            (&["environments", "production", "requires"], Some(9)),
            (&["environments", "production", "strategy", "canary"], Some(10)),
            (&["environments", "staging", "smoke"], Some(12)),
            (&["pipeline", "test"], None),
        ];
        for (path, line) in cases {
            assert_eq!(locator.line(path), line, "{path:?}");
        }
    }

    #[test]
    fn unparsable_text_has_no_lines() {
        assert_eq!(Locator::new("[app\n").line(&["app"]), None);
    }
}
