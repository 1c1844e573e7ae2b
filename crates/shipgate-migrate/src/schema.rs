//! What the migration history says about the schema, as far as lint needs it: which
//! tables exist, whether the pending set created them, and the declared type of each column.

use std::collections::HashMap;

use squawk_syntax::ast::{self, AstNode};

/// A table as the migrations so far declare it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Created by a migration that has not run in production yet, so it holds no rows there.
    pub created_pending: bool,
    /// Column name → declared type, normalized (`varchar(50)`, `text`, …).
    pub columns: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct SchemaModel {
    pub tables: HashMap<String, Table>,
}

/// `"Users"` keeps its case; `public.users`, `ONLY users` and `USERS` become `users`.
pub fn normalize_name(text: &str) -> String {
    let text = text.trim();
    let text = text.strip_prefix("ONLY ").or_else(|| text.strip_prefix("only ")).unwrap_or(text).trim();
    let last = text.rsplit('.').next().unwrap_or(text).trim();
    match last.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(quoted) => quoted.to_owned(),
        None => last.to_ascii_lowercase(),
    }
}

/// A type as written, lowercased with spaces removed: `VARCHAR (50)` → `varchar(50)`.
pub fn normalize_type(text: &str) -> String {
    let lower: String = text.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = lower.replace(" (", "(").replace("( ", "(").replace(" )", ")");
    match lower.as_str() {
        "character varying" => "varchar".to_owned(),
        other => other.replace("character varying(", "varchar("),
    }
}

/// The length of `varchar(N)`, or `None` for unbounded `varchar`/`text` (and `Some(None)`
/// only for the bounded form). Returns `None` for other types.
fn varchar_limit(ty: &str) -> Option<Option<u32>> {
    if ty == "varchar" || ty == "text" {
        return Some(None);
    }
    let inner = ty.strip_prefix("varchar(")?.strip_suffix(')')?;
    inner.trim().parse().ok().map(Some)
}

/// Whether changing a column from `old` to `new` is a widening PostgreSQL does without
/// rewriting the table (a longer `varchar`, or `varchar` to `text`).
pub fn is_widening(old: &str, new: &str) -> bool {
    match (varchar_limit(old), varchar_limit(new)) {
        (Some(Some(before)), Some(Some(after))) => after >= before,
        (Some(_), Some(None)) => true,
        _ => false,
    }
}

impl SchemaModel {
    /// Applies one migration's statements to the model.
    pub fn apply(&mut self, file: &ast::SourceFile, pending: bool) {
        for statement in file.stmts() {
            match statement {
                ast::Stmt::CreateTable(create) => {
                    let Some(name) = create.table_name() else { continue };
                    let mut table = Table { created_pending: pending, columns: HashMap::new() };
                    for arg in create.table_arg_list().into_iter().flat_map(|list| list.args()) {
                        if let ast::TableArg::Column(column) = arg
                            && let (Some(column_name), Some(ty)) = (column.name(), column.ty())
                        {
                            table.columns.insert(
                                normalize_name(&column_name.syntax().text().to_string()),
                                normalize_type(&ty.syntax().text().to_string()),
                            );
                        }
                    }
                    self.tables.insert(normalize_name(&name.syntax().text().to_string()), table);
                }
                ast::Stmt::AlterTable(alter) => self.apply_alter(&alter),
                ast::Stmt::DropTable(drop) => {
                    for name in drop.table_name_refs() {
                        self.tables.remove(&normalize_name(&name.syntax().text().to_string()));
                    }
                }
                _ => {}
            }
        }
    }

    fn apply_alter(&mut self, alter: &ast::AlterTable) {
        let Some(relation) = alter.table_relation_name() else { return };
        let table = self.tables.entry(normalize_name(&relation.syntax().text().to_string())).or_default();
        for action in alter.actions() {
            match action {
                ast::AlterTableAction::AddColumn(add) => {
                    if let (Some(name), Some(ty)) = (add.column_name(), add.ty()) {
                        table.columns.insert(
                            normalize_name(&name.syntax().text().to_string()),
                            normalize_type(&ty.syntax().text().to_string()),
                        );
                    }
                }
                ast::AlterTableAction::AlterColumn(column) => {
                    if let (Some(name), Some(ast::AlterColumnOption::SetType(set_type))) =
                        (column.column_name_ref(), column.option())
                        && let Some(ty) = set_type.ty()
                    {
                        table.columns.insert(
                            normalize_name(&name.syntax().text().to_string()),
                            normalize_type(&ty.syntax().text().to_string()),
                        );
                    }
                }
                ast::AlterTableAction::DropColumn(drop) => {
                    if let Some(name) = drop.column_name_ref() {
                        table.columns.remove(&normalize_name(&name.syntax().text().to_string()));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_normalize() {
        for (raw, name) in
            [("users", "users"), ("public.Users", "users"), ("\"Users\"", "Users"), ("ONLY users", "users")]
        {
            assert_eq!(normalize_name(raw), name, "{raw}");
        }
        assert_eq!(normalize_type("VARCHAR (50)"), "varchar(50)");
        assert_eq!(normalize_type("character varying(10)"), "varchar(10)");
    }

    #[test]
    fn widening_is_only_longer_varchar_or_text() {
        let cases = [
            ("varchar(50)", "varchar(100)", true),
            ("varchar(50)", "varchar(50)", true),
            ("varchar(50)", "text", true),
            ("varchar(50)", "varchar", true),
            ("varchar(100)", "varchar(50)", false),
            ("text", "varchar(10)", false),
            ("int", "bigint", false),
            ("varchar(50)", "int", false),
        ];
        for (old, new, widening) in cases {
            assert_eq!(is_widening(old, new), widening, "{old} → {new}");
        }
    }

    #[test]
    fn model_follows_create_alter_and_drop() {
        let sql = "CREATE TABLE users (id bigint, email VARCHAR(50));\n\
                   ALTER TABLE users ADD COLUMN name text;\n\
                   ALTER TABLE users ALTER COLUMN email TYPE varchar(80);\n\
                   ALTER TABLE users DROP COLUMN id;\n\
                   CREATE TABLE gone (x int);\nDROP TABLE gone;";
        let mut model = SchemaModel::default();
        model.apply(&squawk_syntax::SourceFile::parse(sql).tree(), true);
        let users = &model.tables["users"];
        assert!(users.created_pending);
        assert_eq!(users.columns.get("email").map(String::as_str), Some("varchar(80)"));
        assert_eq!(users.columns.get("name").map(String::as_str), Some("text"));
        assert!(!users.columns.contains_key("id"));
        assert!(!model.tables.contains_key("gone"));
    }
}
