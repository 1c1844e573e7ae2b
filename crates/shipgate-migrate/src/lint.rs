//! Lint: squawk's parser and rules, judged with the whole migration history as context,
//! plus shipgate's own rules.
//!
//! squawk judges each file alone. shipgate knows more, and uses it both ways:
//! - it raises what squawk cannot see: destructive statements outside `contract/`, expand
//!   migrations with no way back, statements the parser could not read;
//! - it drops squawk's false alarms: locking rules on a table that the pending migrations
//!   themselves created (it holds no rows in production yet), a type change that only widens a
//!   `varchar` known from earlier migrations, drops inside `contract/` (that is where they
//!   belong), and the timeout and robustness rules that shipgate's applier already satisfies
//!   (it sets `lock_timeout` and `statement_timeout` and runs each migration in a transaction).

use squawk_linter::{Linter, Rule, Violation};
use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SourceFile, SyntaxNode};

use crate::finding::{Finding, Severity};
use crate::layout::{Migration, MigrationSet, Phase};
use crate::schema::{SchemaModel, is_widening, normalize_name, normalize_type};

/// Ids of shipgate's own migration rules, and of the family that wraps squawk's rules.
pub mod rules {
    /// A drop or rename outside `contract/`.
    pub const DESTRUCTIVE_IN_EXPAND: (&str, &str) = ("SG0501", "destructive-in-expand");
    /// A statement the parser could not read.
    pub const UNPARSABLE: (&str, &str) = ("SG0502", "unparsable-statement");
    /// An expand migration without a `.down.sql`.
    pub const MISSING_DOWN: (&str, &str) = ("SG0503", "missing-down-migration");
    /// Any of squawk's rules; the name is `squawk/<rule>`.
    pub const SQUAWK: &str = "SG0510";
}

/// squawk rules that shipgate's applier makes moot.
const SATISFIED_BY_APPLIER: [Rule; 3] =
    [Rule::RequireLockTimeout, Rule::RequireStatementTimeout, Rule::PreferRobustStmts];

/// squawk rules about statements that break the code still running the old schema.
const DESTRUCTIVE: [Rule; 13] = [
    Rule::BanDropColumn,
    Rule::BanDropTable,
    Rule::RenamingColumn,
    Rule::RenamingTable,
    Rule::RenamingObject,
    Rule::BanDropType,
    Rule::BanDropView,
    Rule::BanDropFunction,
    Rule::BanDropSequence,
    Rule::BanDropDomain,
    Rule::BanDropSchema,
    Rule::BanDropNotNull,
    Rule::BanDropConstraint,
];

/// squawk rules about locks or rewrites, harmless on a table with no rows in production.
const LOCKING: [Rule; 10] = [
    Rule::RequireConcurrentIndexCreation,
    Rule::RequireConcurrentIndexDeletion,
    Rule::AddingFieldWithDefault,
    Rule::AddingNotNullableField,
    Rule::AddingRequiredField,
    Rule::ChangingColumnType,
    Rule::ConstraintMissingNotValid,
    Rule::AddingForeignKeyConstraint,
    Rule::DisallowedUniqueConstraint,
    Rule::AddingSerialPrimaryKeyField,
];

/// Style preferences rather than hazards: reported as warnings.
const STYLE: [Rule; 8] = [
    Rule::RequireEnumValueOrdering,
    Rule::PreferBigintOverInt,
    Rule::PreferBigintOverSmallint,
    Rule::PreferIdentity,
    Rule::PreferTextField,
    Rule::PreferTimestampTz,
    Rule::BanCharField,
    Rule::IdentifierTooLong,
];

/// Which migrations have already run in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LintOptions {
    /// Migrations up to this version have run; they are context, not judged. `None`: none has.
    pub applied_through: Option<u64>,
}

/// Lints every pending migration of `set`, in order, with all earlier ones as context.
pub fn lint(set: &MigrationSet, options: LintOptions) -> Vec<Finding> {
    let mut model = SchemaModel::default();
    let mut findings = Vec::new();
    for migration in &set.migrations {
        let pending = options.applied_through.is_none_or(|applied| migration.version > applied);
        let parse = SourceFile::parse(&migration.up);
        let file = parse.tree();
        if pending {
            findings.extend(parse_errors(&migration.up_path, &parse.errors()));
            findings.extend(squawk_findings(migration, &parse, &model));
            if migration.phase == Phase::Expand && migration.down.is_none() {
                findings.push(missing_down(migration));
            }
            if let Some(down) = &migration.down {
                let down_parse = SourceFile::parse(down);
                findings.extend(parse_errors(migration.down_path.as_deref().unwrap_or_default(), &down_parse.errors()));
            }
        }
        model.apply(&file, pending);
    }
    findings
}

fn parse_errors(path: &str, errors: &[squawk_syntax::syntax_error::SyntaxError]) -> Vec<Finding> {
    errors
        .iter()
        .map(|error| {
            let range = error.range();
            Finding {
                rule_id: rules::UNPARSABLE.0,
                rule: rules::UNPARSABLE.1.to_owned(),
                severity: Severity::Deny,
                message: format!("could not parse this statement: {}", error.message()),
                hint: "fix the SQL; a statement shipgate cannot read cannot be checked, so it is never skipped"
                    .to_owned(),
                file: path.to_owned(),
                span: usize::from(range.start())..usize::from(range.end()),
            }
        })
        .collect()
}

fn missing_down(migration: &Migration) -> Finding {
    Finding {
        rule_id: rules::MISSING_DOWN.0,
        rule: rules::MISSING_DOWN.1.to_owned(),
        severity: Severity::Warn,
        message: format!("expand migration `{}` has no down migration", migration.up_path),
        hint: format!(
            "add `{}` that undoes it, so a rollback can return the schema too; rehearsal runs it",
            migration.up_path.replace(".up.sql", ".down.sql")
        ),
        file: migration.up_path.clone(),
        span: 0..0,
    }
}

fn squawk_findings(
    migration: &Migration,
    parse: &squawk_syntax::Parse<SourceFile>,
    model: &SchemaModel,
) -> Vec<Finding> {
    let mut linter = Linter::with_rules(&[], &SATISFIED_BY_APPLIER);
    linter.settings.assume_in_transaction = true;
    let root = parse.syntax_node();
    linter
        .lint(parse, &migration.up)
        .into_iter()
        .filter_map(|violation| judge(migration, &root, model, violation))
        .collect()
}

/// Turns one squawk violation into a shipgate finding, or drops it as a false alarm here.
fn judge(migration: &Migration, root: &SyntaxNode, model: &SchemaModel, violation: Violation) -> Option<Finding> {
    let span = usize::from(violation.text_range.start())..usize::from(violation.text_range.end());
    let code = violation.code;
    let help = violation.help.clone().unwrap_or_default();
    if DESTRUCTIVE.contains(&code) {
        if migration.phase == Phase::Contract {
            return None;
        }
        return Some(Finding {
            rule_id: rules::DESTRUCTIVE_IN_EXPAND.0,
            rule: rules::DESTRUCTIVE_IN_EXPAND.1.to_owned(),
            severity: Severity::Deny,
            message: format!(
                "{} in an expand migration: the release still running during the rollout uses what this removes ({code})",
                violation.message.trim_end_matches('.')
            ),
            hint: format!(
                "ship code that no longer uses it first, then move this statement to `contract/`, which runs one release later{}",
                if help.is_empty() { String::new() } else { format!("; {help}") }
            ),
            file: migration.up_path.clone(),
            span,
        });
    }
    let statement = covering_node(root, &violation);
    if LOCKING.contains(&code)
        && let Some(table) = statement.as_ref().and_then(target_table)
        && model.tables.get(&table).is_some_and(|known| known.created_pending)
    {
        return None;
    }
    if code == Rule::ChangingColumnType && statement.as_ref().is_some_and(|node| widens_known_varchar(node, model)) {
        return None;
    }
    Some(Finding {
        rule_id: rules::SQUAWK,
        rule: format!("squawk/{code}"),
        severity: if STYLE.contains(&code) { Severity::Warn } else { Severity::Deny },
        message: violation.message.trim_end_matches('.').to_owned(),
        hint: if help.is_empty() {
            format!("see https://squawkhq.com/docs/{code}")
        } else {
            help.trim_end_matches('.').to_owned()
        },
        file: migration.up_path.clone(),
        span,
    })
}

/// The innermost node covering the violation.
fn covering_node(root: &SyntaxNode, violation: &Violation) -> Option<SyntaxNode> {
    if !root.text_range().contains_range(violation.text_range) {
        return None;
    }
    Some(match root.covering_element(violation.text_range) {
        squawk_syntax::SyntaxElement::Node(node) => node,
        squawk_syntax::SyntaxElement::Token(token) => token.parent()?,
    })
}

/// The table an `ALTER TABLE` or `CREATE INDEX` around `node` works on.
fn target_table(node: &SyntaxNode) -> Option<String> {
    node.ancestors().find_map(|ancestor| {
        if let Some(alter) = ast::AlterTable::cast(ancestor.clone()) {
            return alter.table_relation_name().map(|name| normalize_name(&name.syntax().text().to_string()));
        }
        ast::CreateIndex::cast(ancestor)
            .and_then(|index| index.table_relation_name())
            .map(|name| normalize_name(&name.syntax().text().to_string()))
    })
}

/// `ALTER COLUMN c TYPE varchar(N)` where the history says `c` is a shorter varchar.
fn widens_known_varchar(node: &SyntaxNode, model: &SchemaModel) -> bool {
    let Some(table) = target_table(node) else { return false };
    let Some(known) = model.tables.get(&table) else { return false };
    let alter = node.ancestors().find_map(ast::AlterTable::cast);
    alter.into_iter().flat_map(|alter| alter.actions()).any(|action| {
        let ast::AlterTableAction::AlterColumn(column) = action else { return false };
        let (Some(name), Some(ast::AlterColumnOption::SetType(set_type))) = (column.column_name_ref(), column.option())
        else {
            return false;
        };
        let Some(new_type) = set_type.ty() else { return false };
        let column_name = normalize_name(&name.syntax().text().to_string());
        known
            .columns
            .get(&column_name)
            .is_some_and(|old| is_widening(old, &normalize_type(&new_type.syntax().text().to_string())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::from_files;

    fn set(files: &[(&str, &str)]) -> MigrationSet {
        from_files(files.iter().map(|(path, sql)| ((*path).to_owned(), (*sql).to_owned())).collect()).unwrap()
    }

    /// The deny rules that fire (warnings are tested on their own below).
    fn fired(files: &[(&str, &str)], options: LintOptions) -> Vec<String> {
        let mut rules: Vec<String> = lint(&set(files), options)
            .into_iter()
            .filter(|finding| finding.severity == Severity::Deny)
            .map(|finding| finding.rule)
            .collect();
        rules.dedup();
        rules
    }

    const USERS: (&str, &str) =
        ("expand/0001_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(50));");
    const USERS_DOWN: (&str, &str) = ("expand/0001_users.down.sql", "DROP TABLE users;");
    const APPLIED_USERS: LintOptions = LintOptions { applied_through: Some(1) };

    #[test]
    fn each_rule_fires_and_stays_quiet_on_the_safe_form() {
        let none: Vec<&str> = vec![];
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, LintOptions, Vec<&'a str>);
        let cases: Vec<Case<'_>> = vec![
            (
                "drop column in expand is denied",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_drop.up.sql", "ALTER TABLE users DROP COLUMN email;"),
                    ("expand/0002_drop.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                vec!["destructive-in-expand"],
            ),
            (
                "drop column in contract is where it belongs",
                vec![USERS, USERS_DOWN, ("contract/0002_drop.up.sql", "ALTER TABLE users DROP COLUMN email;")],
                APPLIED_USERS,
                none.clone(),
            ),
            (
                "rename in expand is denied",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_rename.up.sql", "ALTER TABLE users RENAME COLUMN email TO mail;"),
                    ("expand/0002_rename.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                vec!["destructive-in-expand"],
            ),
            (
                "index without CONCURRENTLY on a table with rows",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_idx.up.sql", "CREATE INDEX users_email ON users (email);"),
                    ("expand/0002_idx.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                vec!["squawk/require-concurrent-index-creation"],
            ),
            (
                "index on a table the pending set created is fine",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_idx.up.sql", "CREATE INDEX users_email ON users (email);"),
                    ("expand/0002_idx.down.sql", "SELECT 1;"),
                ],
                LintOptions::default(),
                none.clone(),
            ),
            (
                "narrowing or changing a column type rewrites the table",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_type.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(20);"),
                    ("expand/0002_type.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                vec!["squawk/changing-column-type"],
            ),
            (
                "widening a known varchar does not",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_type.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(200);"),
                    ("expand/0002_type.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                none.clone(),
            ),
            (
                "an unreadable statement is a finding, not skipped",
                vec![("expand/0001_bad.up.sql", "CREATE TABLE (;"), ("expand/0001_bad.down.sql", "SELECT 1;")],
                LintOptions::default(),
                vec!["unparsable-statement"],
            ),
            (
                "timeouts are set by shipgate's applier, so squawk's timeout rules stay quiet",
                vec![
                    USERS,
                    USERS_DOWN,
                    ("expand/0002_col.up.sql", "ALTER TABLE users ADD COLUMN name text;"),
                    ("expand/0002_col.down.sql", "ALTER TABLE users DROP COLUMN name;"),
                ],
                APPLIED_USERS,
                none.clone(),
            ),
            (
                "history is context only: findings in applied migrations are not reported",
                vec![
                    (
                        "expand/0001_old.up.sql",
                        "CREATE TABLE t (id int); CREATE INDEX ON t (id); ALTER TABLE t DROP COLUMN id;",
                    ),
                    ("expand/0001_old.down.sql", "SELECT 1;"),
                ],
                APPLIED_USERS,
                none.clone(),
            ),
        ];
        for (name, files, options, expected) in cases {
            assert_eq!(fired(&files, options), expected, "{name}");
        }
    }

    #[test]
    fn missing_down_is_a_warning_for_expand_only() {
        let findings = lint(&set(&[USERS, ("contract/0002_drop.up.sql", "DROP TABLE users;")]), LintOptions::default());
        let missing: Vec<(&str, Severity)> = findings
            .iter()
            .filter(|finding| finding.rule == rules::MISSING_DOWN.1)
            .map(|finding| (finding.file.as_str(), finding.severity))
            .collect();
        assert_eq!(missing, vec![("expand/0001_users.up.sql", Severity::Warn)]);
    }

    #[test]
    fn squawk_rules_arrive_as_shipgate_findings() {
        let cases = [
            ("ALTER TABLE users ADD COLUMN n int NOT NULL;", "squawk/adding-required-field", Severity::Deny),
            (
                "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES users (id);",
                "squawk/adding-foreign-key-constraint",
                Severity::Deny,
            ),
            ("ALTER TABLE users ADD COLUMN note varchar(10);", "squawk/prefer-text-field", Severity::Warn),
            ("DROP DATABASE prod;", "squawk/ban-drop-database", Severity::Deny),
        ];
        for (sql, rule, severity) in cases {
            let findings = lint(
                &set(&[USERS, USERS_DOWN, ("expand/0002_x.up.sql", sql), ("expand/0002_x.down.sql", "SELECT 1;")]),
                APPLIED_USERS,
            );
            let found = findings.iter().find(|finding| finding.rule == rule);
            assert_eq!(
                found.map(|finding| (finding.rule_id, finding.severity)),
                Some((rules::SQUAWK, severity)),
                "{sql}: {findings:#?}"
            );
        }
    }

    #[test]
    fn findings_point_at_the_statement() {
        let sql = "-- add an index\nCREATE INDEX users_email ON users (email);";
        let findings = lint(
            &set(&[USERS, USERS_DOWN, ("expand/0002_idx.up.sql", sql), ("expand/0002_idx.down.sql", "SELECT 1;")]),
            APPLIED_USERS,
        );
        let finding = findings.iter().find(|finding| finding.file == "expand/0002_idx.up.sql").unwrap();
        assert!(sql[finding.span.clone()].starts_with("CREATE INDEX"), "{:?}", &sql[finding.span.clone()]);
    }
}
