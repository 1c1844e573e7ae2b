//! Databases, brokers and URLs or connection strings that carry a password.

use super::{EXACT, GENERIC, KEYED, Rule, keyed};

/// Passwords that documentation, tutorials and local `docker compose` files use; a URL
/// with one of them is an example, not a leak.
const DEFAULT_PASSWORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "changeme",
    "postgres",
    "mysql",
    "root",
    "admin",
    "guest",
    "test",
    "example",
    "user",
    "username",
    "mypassword",
    "mysecretpassword",
    "p@ssw0rd",
    "s3cr3t",
    "foo",
    "bar",
    "xxx",
    "token",
];

/// Hosts reserved for documentation (RFC 2606 / RFC 6761) or that are obviously made up.
fn is_example_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
        || [".example", ".test", ".invalid", ".localhost"].iter().any(|suffix| host.ends_with(suffix))
        || ["host", "hostname", "server", "your-host", "dbhost"].contains(&host)
}

/// A credential URL `scheme://user:password@host…`: the password is not a documented
/// default, not the user name again, and the host is not a documentation domain.
pub(crate) fn url_credentials(secret: &[u8], whole: &[u8]) -> bool {
    let whole = String::from_utf8_lossy(whole);
    let secret = String::from_utf8_lossy(secret);
    if DEFAULT_PASSWORDS.iter().any(|default| secret.eq_ignore_ascii_case(default)) {
        return false;
    }
    let Some(authority) = whole.split_once("://").map(|(_, rest)| rest) else { return true };
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    let user = userinfo.split_once(':').map_or("", |(user, _)| user);
    if !user.is_empty() && user.eq_ignore_ascii_case(&secret) {
        return false;
    }
    let host = host.split(['/', ':', '?', '#', ',']).next().unwrap_or("");
    !is_example_host(host)
}

/// A `Password=…` in a connection string: not a documented default.
fn connection_password(secret: &[u8], whole: &[u8]) -> bool {
    let secret = String::from_utf8_lossy(secret);
    let whole = String::from_utf8_lossy(whole).to_ascii_lowercase();
    !DEFAULT_PASSWORDS.iter().any(|default| secret.eq_ignore_ascii_case(default))
        && !["example.com", "example.org", "example.net"].iter().any(|domain| whole.contains(domain))
}

/// `scheme://user:password@host`, with the password as group 1.
macro_rules! url_with_password {
    ($scheme:literal) => {
        concat!(r#"\b(?i:"#, $scheme, r#")://[^\s:/@"'<>`]{0,64}:([^\s@/"'<>`]{3,128})@[A-Za-z0-9_\-.\[\]]+"#)
    };
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "postgres-url-password",
        description: "PostgreSQL connection URL with a password",
        keywords: &["postgres://", "postgresql://", "postgres+", "postgresql+", "pgsql://"],
        case_sensitive: false,
        pattern: url_with_password!(r"postgres(?:ql)?(?:\+\w+)?|pgsql"),
        check: Some(url_credentials),
        entropy: Some(2.5),
        matches: &[
            "DATABASE_URL=postgres://app:%{A:20}@db.internal:5432/app",
            "url = \"postgresql+psycopg://svc:%{A:16}@10.0.3.4/orders\"",
        ],
        quiet: &[
            "postgres://postgres:postgres@localhost:5432/test",
            "postgres://user:password@host/db",
            "postgres://app:${DB_PASSWORD}@db/app",
            "postgres://app:%{A:16}@db.example.com/app",
        ],
        ..EXACT
    },
    Rule {
        id: "mysql-url-password",
        description: "MySQL / MariaDB connection URL with a password",
        keywords: &["mysql://", "mysql+", "mariadb://", "mysqlx://"],
        case_sensitive: false,
        pattern: url_with_password!(r"mysql(?:x)?(?:\+\w+)?|mariadb"),
        check: Some(url_credentials),
        entropy: Some(2.5),
        matches: &["SQLALCHEMY_DATABASE_URI = 'mysql+pymysql://shop:%{A:18}@mysql.prod.internal/shop'"],
        quiet: &["mysql://root:root@127.0.0.1:3306/test", "mysql://user:<password>@host/db"],
        ..EXACT
    },
    Rule {
        id: "mongodb-url-password",
        description: "MongoDB connection URL with a password",
        keywords: &["mongodb://", "mongodb+srv://"],
        case_sensitive: false,
        pattern: url_with_password!(r"mongodb(?:\+srv)?"),
        check: Some(url_credentials),
        entropy: Some(2.5),
        matches: &["MONGO_URL=mongodb+srv://api:%{A:24}@cluster0.a1b2c.mongodb.net/prod?retryWrites=true"],
        quiet: &["mongodb://admin:admin@localhost:27017", "mongodb+srv://<user>:<password>@cluster0.mongodb.net"],
        ..EXACT
    },
    Rule {
        id: "redis-url-password",
        description: "Redis connection URL with a password",
        keywords: &["redis://", "rediss://"],
        case_sensitive: false,
        pattern: url_with_password!(r"rediss?"),
        check: Some(url_credentials),
        entropy: Some(2.5),
        matches: &["REDIS_URL=rediss://default:%{A:32}@redis-12345.c1.eu-west-1.cache.amazonaws.com:6379"],
        quiet: &["redis://:password@localhost:6379/0", "redis://localhost:6379"],
        ..EXACT
    },
    Rule {
        id: "amqp-url-password",
        description: "AMQP (RabbitMQ) connection URL with a password",
        keywords: &["amqp://", "amqps://"],
        case_sensitive: false,
        pattern: url_with_password!(r"amqps?"),
        check: Some(url_credentials),
        entropy: Some(2.5),
        matches: &["BROKER_URL=amqps://worker:%{A:20}@rabbit.prod.internal:5671/vhost"],
        quiet: &["amqp://guest:guest@localhost:5672//"],
        ..EXACT
    },
    Rule {
        id: "url-password",
        description: "URL with an embedded password (HTTP, FTP, SMTP, LDAP, …)",
        keywords: &["://"],
        case_sensitive: false,
        pattern: url_with_password!(r"[a-z][a-z0-9+.\-]{1,20}"),
        check: Some(url_credentials),
        entropy: Some(3.0),
        matches: &[
            "pip install --index-url https://deploy:%{A:20}@pypi.acme.internal/simple app",
            "SMTP_URL=smtps://mailer:%{A:16}@smtp.acme.io:465",
        ],
        quiet: &[
            "https://user:pass@example.com/path",
            "see https://docs.python.org/3/library/urllib.html",
            "ftp://anonymous:guest@ftp.example.org",
            "http://user:%{A:16}@www.example.com",
        ],
        ..GENERIC
    },
    Rule {
        id: "connection-string-password",
        description: "Connection string (ADO.NET, JDBC, ODBC) with a password",
        keywords: &["password=", "pwd="],
        case_sensitive: false,
        pattern: r#"(?i)(?:jdbc:[a-z0-9]+:[^\s"']*?|(?:server|data source|host|address|addr|dsn)\s*=[^;"'\n]+;[^"'\n]*?)(?:password|pwd)\s*=\s*([^;\s"'&]{4,128})"#,
        check: Some(connection_password),
        entropy: Some(2.5),
        matches: &[
            "\"Default\": \"Server=tcp:sql.acme.internal,1433;Database=shop;User ID=shop;Password=%{A:20};Encrypt=True\"",
            "jdbc:sqlserver://db.acme.internal:1433;databaseName=orders;user=svc;password=%{A:16}",
        ],
        quiet: &["Server=myServerAddress;Database=myDataBase;User Id=myUsername;Password=password;"],
        ..KEYED
    },
    Rule {
        id: "algolia-admin-key",
        description: "Algolia admin API key",
        keywords: &["algolia"],
        pattern: keyed!("algolia", "[a-f0-9]{32}"),
        matches: &["ALGOLIA_ADMIN_KEY=%{h:32}"],
        quiet: &["ALGOLIA_APP_ID=%{U:10}"],
        ..KEYED
    },
    Rule {
        id: "elastic-api-key",
        description: "Elasticsearch / Elastic Cloud API key",
        keywords: &["elastic"],
        pattern: keyed!(r"elastic(?:search)?_?(?:cloud_?)?api_?key", r"[A-Za-z0-9_\-]{20,}={0,2}"),
        entropy: Some(3.8),
        matches: &["ELASTIC_API_KEY=%{A:60}=="],
        quiet: &["ELASTIC_API_KEY_ID=my-key", "elasticsearch_api_key: ${ES_KEY}"],
        ..KEYED
    },
];
