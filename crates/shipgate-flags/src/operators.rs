//! flagd's string operators. `fractional` and `sem_ver` come with datalogic-rs's `flagd`
//! feature; `starts_with` and `ends_with` are not part of it, so they are added here with the
//! semantics of flagd's providers: both arguments must be strings, anything else is `false`.

use datalogic_rs::bumpalo::Bump;
use datalogic_rs::operator::EvalContext;
use datalogic_rs::{ArenaExt, CustomOperator, DataValue, Engine};

/// The engine every flag is compiled and evaluated with.
pub(crate) fn engine() -> Engine {
    Engine::builder()
        .add_operator("starts_with", StringTest(|text, pattern| text.starts_with(pattern)))
        .add_operator("ends_with", StringTest(|text, pattern| text.ends_with(pattern)))
        .build()
}

/// An operator that tests its first argument's text against its second's (flagd's
/// `starts_with` and `ends_with`).
struct StringTest(fn(&str, &str) -> bool);

impl CustomOperator for StringTest {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _context: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        Ok(arena.bool(strings(args, self.0)))
    }
}

fn strings(args: &[&DataValue<'_>], test: impl Fn(&str, &str) -> bool) -> bool {
    match args {
        [text, pattern] => match (text.as_str(), pattern.as_str()) {
            (Some(text), Some(pattern)) => test(text, pattern),
            _ => false,
        },
        _ => false,
    }
}
