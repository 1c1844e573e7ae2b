//! Reading the spanned TOML tree into the model, collecting every problem on the way.
//!
//! serde stops at the first error; users want all of them at once, each pointing at its
//! own line. So each model type implements [`Decode`] by hand over `toml_edit`'s spanned
//! tree, and [`Fields`] records which keys a table's decoder asked for, so that the keys
//! nobody asked for are reported as unknown, with a suggestion, without a separate list of
//! known keys that could drift from the code.

use std::collections::BTreeMap;
use std::ops::Range;

use toml_edit::{Item, Table, TableLike, Value};

use crate::diagnostic::{Code, Diagnostic};
use crate::suggest;
use crate::values::{Invalid, quoted_list};

/// Collects diagnostics while decoding.
#[derive(Default)]
pub(crate) struct Decoder {
    pub diagnostics: Vec<Diagnostic>,
}

impl Decoder {
    pub fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn invalid(&mut self, node: &Node<'_>, invalid: Invalid) {
        let mut diagnostic = Diagnostic::new(
            Code::InvalidValue,
            node.span.clone(),
            format!("invalid `{}`: {}", node.path, invalid.message),
        );
        diagnostic.hint = invalid.hint;
        self.report(diagnostic);
    }
}

/// A TOML value in one of the three shapes `toml_edit` holds it in: an item of a table, a
/// value inside an array or inline table, or one table of an array of tables.
#[derive(Clone, Copy)]
pub(crate) enum Tree<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a Table),
}

impl<'a> Tree<'a> {
    fn value(self) -> Option<&'a Value> {
        match self {
            Tree::Item(item) => item.as_value(),
            Tree::Value(value) => Some(value),
            Tree::Table(_) => None,
        }
    }

    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Tree::Item(item) => item.as_table_like(),
            Tree::Value(value) => value.as_inline_table().map(|table| table as &dyn TableLike),
            Tree::Table(table) => Some(table as &dyn TableLike),
        }
    }

    fn type_name(self) -> &'static str {
        match (self, self.value()) {
            (Tree::Item(Item::ArrayOfTables(_)), _) => "an array of tables",
            (Tree::Item(Item::None), _) => "nothing",
            (_, None) | (_, Some(Value::InlineTable(_))) => "a table",
            (_, Some(Value::String(_))) => "a string",
            (_, Some(Value::Integer(_))) => "an integer",
            (_, Some(Value::Float(_))) => "a float",
            (_, Some(Value::Boolean(_))) => "a boolean",
            (_, Some(Value::Datetime(_))) => "a date-time",
            (_, Some(Value::Array(_))) => "an array",
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Tree::Item(item) => item.span(),
            Tree::Value(value) => value.span(),
            Tree::Table(table) => table.span(),
        }
    }
}

/// One value of the document, with the best span known for it and its dotted path.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    pub tree: Tree<'a>,
    pub span: Range<usize>,
    pub path: String,
}

/// A value that can be read from a [`Node`].
pub(crate) trait Decode: Sized {
    /// Reads the value, reporting problems to `decoder`; `None` when it could not.
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self>;
}

impl<'a> Node<'a> {
    pub fn root(item: &'a Item) -> Self {
        Node { tree: Tree::Item(item), span: 0..0, path: String::new() }
    }

    fn nested(&self, tree: Tree<'a>, fallback: Range<usize>, path: String) -> Node<'a> {
        Node { span: tree.span().unwrap_or(fallback), tree, path }
    }

    pub fn value(&self) -> Option<&'a Value> {
        self.tree.value()
    }

    pub fn is_table(&self) -> bool {
        self.tree.table_like().is_some()
    }

    fn wrong_type_diagnostic(&self, expected: &str) -> Diagnostic {
        let hint = match expected {
            "a string" => "put the value in double quotes, e.g. `\"text\"`",
            "a whole number" => "write a whole number without quotes, e.g. `3`",
            "a number" => "write a number without quotes, e.g. `0.5`",
            "`true` or `false`" => "write `true` or `false`, without quotes",
            "an array" => "write a list in square brackets, e.g. `[\"a\", \"b\"]`",
            "a table" => "write a table: a `[section]` header with `key = value` lines under it, or `{ key = value }`",
            _ => "`shipgate schema` shows what each key takes",
        };
        Diagnostic::new(
            Code::WrongType,
            self.span.clone(),
            format!("`{}` must be {expected}, not {}", self.path, self.tree.type_name()),
        )
        .with_hint(hint)
    }

    /// Reports that this node should have been `expected`, e.g. "a string".
    pub fn wrong_type(&self, decoder: &mut Decoder, expected: &str) {
        decoder.report(self.wrong_type_diagnostic(expected));
    }

    /// Like [`Self::wrong_type`], with a hint.
    pub fn wrong_type_hint(&self, decoder: &mut Decoder, expected: &str, hint: impl Into<String>) {
        decoder.report(self.wrong_type_diagnostic(expected).with_hint(hint));
    }

    pub fn as_str(&self, decoder: &mut Decoder) -> Option<&'a str> {
        let text = self.value().and_then(Value::as_str);
        if text.is_none() {
            self.wrong_type(decoder, "a string");
        }
        text
    }

    /// Reads a string and checks it with `parse`.
    pub fn parse_str<T>(&self, decoder: &mut Decoder, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Option<T> {
        let text = self.as_str(decoder)?;
        parse(text).map_err(|invalid| decoder.invalid(self, invalid)).ok()
    }

    /// Reads an integer or a float.
    pub fn as_number(&self, decoder: &mut Decoder) -> Option<f64> {
        match self.value() {
            Some(Value::Float(value)) => Some(*value.value()),
            // Precision loss above 2^53 is irrelevant for weights and fractions.
            Some(Value::Integer(value)) => Some(*value.value() as f64),
            _ => {
                self.wrong_type(decoder, "a number");
                None
            }
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        self.value().and_then(Value::as_integer)
    }

    /// A TOML date-time value, as its text.
    pub fn as_datetime(&self) -> Option<String> {
        self.value().and_then(Value::as_datetime).map(ToString::to_string)
    }

    /// The elements of an array or an array of tables.
    pub fn elements(&self, decoder: &mut Decoder) -> Option<Vec<Node<'a>>> {
        let element_path = |index: usize| format!("{}[{index}]", self.path);
        match (self.tree, self.value()) {
            (Tree::Item(Item::ArrayOfTables(tables)), _) => Some(
                tables
                    .iter()
                    .enumerate()
                    .map(|(index, table)| self.nested(Tree::Table(table), self.span.clone(), element_path(index)))
                    .collect(),
            ),
            (_, Some(Value::Array(array))) => Some(
                array
                    .iter()
                    .enumerate()
                    .map(|(index, value)| self.nested(Tree::Value(value), self.span.clone(), element_path(index)))
                    .collect(),
            ),
            _ => {
                self.wrong_type(decoder, "an array");
                None
            }
        }
    }
}

/// Reads the keys of one table, remembering which were asked for.
pub(crate) struct Fields<'a> {
    pub node: Node<'a>,
    table: &'a dyn TableLike,
    asked: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// Opens `node` as a table, or reports that it is not one.
    pub fn open(node: &Node<'a>, decoder: &mut Decoder) -> Option<Self> {
        match node.tree.table_like() {
            Some(table) => Some(Fields { node: node.clone(), table, asked: Vec::new() }),
            None => {
                node.wrong_type(decoder, "a table");
                None
            }
        }
    }

    /// The table's name for messages: `[run]`, `[environments.staging]`, `the top level`.
    pub fn display_name(&self) -> String {
        if self.node.path.is_empty() { "the top level".to_owned() } else { format!("`[{}]`", self.node.path) }
    }

    fn child(&self, key: &str) -> Option<(Range<usize>, Node<'a>)> {
        let (key_repr, item) = self.table.get_key_value(key)?;
        let key_span = key_repr.span().unwrap_or_else(|| self.node.span.clone());
        let path = if self.node.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.node.path) };
        Some((key_span.clone(), self.node.nested(Tree::Item(item), key_span, path)))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// The child `key`, marking it as known.
    pub fn node(&mut self, key: &'static str) -> Option<Node<'a>> {
        self.asked.push(key);
        self.child(key).map(|(_, node)| node)
    }

    /// The span of the key `key` itself (for "this key may not be here" errors).
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.child(key).map(|(span, _)| span)
    }

    pub fn optional<T: Decode>(&mut self, decoder: &mut Decoder, key: &'static str) -> Option<T> {
        let node = self.node(key)?;
        T::decode(&node, decoder)
    }

    /// Reads `key`, reporting its absence with `example` as the hint (e.g. `name = "hello"`).
    pub fn required<T: Decode>(&mut self, decoder: &mut Decoder, key: &'static str, example: &str) -> Option<T> {
        match self.node(key) {
            Some(node) => T::decode(&node, decoder),
            None => {
                self.missing(decoder, key, example);
                None
            }
        }
    }

    /// Reports that `key` is absent; `example` is what to add (e.g. `name = "hello"`).
    pub fn missing(&self, decoder: &mut Decoder, key: &str, example: &str) {
        let (message, hint) = if self.node.path.is_empty() {
            (format!("missing the `[{key}]` table"), format!("add `[{key}]` with `{example}`"))
        } else {
            (format!("missing `{key}` in {}", self.display_name()), format!("add `{example}`"))
        };
        decoder.report(Diagnostic::new(Code::MissingKey, self.node.span.clone(), message).with_hint(hint));
    }

    /// Marks `key` as handled without reading it.
    pub fn mark_asked(&mut self, key: &'static str) {
        self.asked.push(key);
    }

    /// Every key not asked for, with the span of the key, in document order.
    pub fn unasked(&self) -> Vec<(String, Range<usize>)> {
        self.table
            .iter()
            .filter(|(key, _)| !self.asked.contains(key))
            .filter_map(|(key, _)| self.child(key).map(|(span, _)| (key.to_owned(), span)))
            .collect()
    }

    /// Reports every key that was not asked for, suggesting the closest known one.
    pub fn finish(mut self, decoder: &mut Decoder) {
        let mut seen = std::collections::HashSet::new();
        self.asked.retain(|key| seen.insert(*key));
        for (key, span) in self.unasked() {
            let message = format!("unknown key `{key}` in {}", self.display_name());
            let hint = match suggest::closest(&key, self.asked.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the keys allowed here are {}", quoted_list(self.asked.iter().copied())),
            };
            decoder.report(Diagnostic::new(Code::UnknownKey, span, message).with_hint(hint));
        }
    }

    /// Each entry of a table whose keys are user-chosen names (environments, secrets, …):
    /// the name, the span of the name, and the value.
    pub fn entries(&self) -> Vec<(String, Range<usize>, Node<'a>)> {
        self.table
            .iter()
            .filter_map(|(key, _)| self.child(key).map(|(span, node)| (key.to_owned(), span, node)))
            .collect()
    }
}

impl Decode for String {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        node.as_str(decoder).map(str::to_owned)
    }
}

impl Decode for bool {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let value = node.value().and_then(Value::as_bool);
        if value.is_none() {
            node.wrong_type(decoder, "`true` or `false`");
        }
        value
    }
}

impl Decode for u32 {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let Some(value) = node.as_integer() else {
            node.wrong_type(decoder, "a whole number");
            return None;
        };
        u32::try_from(value)
            .map_err(|_| {
                decoder.invalid(
                    node,
                    Invalid::new(format!("`{value}` is out of range")).hint("use a whole number from 0 to 4294967295"),
                )
            })
            .ok()
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let elements = node.elements(decoder)?;
        let values: Vec<Option<T>> = elements.iter().map(|element| T::decode(element, decoder)).collect();
        values.into_iter().collect()
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let fields = Fields::open(node, decoder)?;
        let values: Vec<Option<(String, T)>> = fields
            .entries()
            .into_iter()
            .map(|(key, _, child)| T::decode(&child, decoder).map(|value| (key, value)))
            .collect();
        values.into_iter().collect()
    }
}

/// Implements [`Decode`] for a value type through its `parse(&str)` function.
macro_rules! decode_from_str {
    ($($ty:ty),* $(,)?) => {$(
        impl Decode for $ty {
            fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
                node.parse_str(decoder, <$ty>::parse)
            }
        }
    )*};
}

pub(crate) use decode_from_str;
