//! The JSON Schema of `shipgate.toml`, generated from the model, for editors.

use crate::model::Spec;

/// The JSON Schema (draft 2020-12) describing `shipgate.toml`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Spec).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".to_owned(), "https://shipgate.dev/schema/shipgate.schema.json".into());
    }
    schema
}
