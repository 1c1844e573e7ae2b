//! Package and container registries.

use super::{EXACT, KEYED, Rule, base64_user_password, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "npm-access-token",
        description: "npm access token",
        keywords: &["npm_"],
        pattern: r"\b(npm_[A-Za-z0-9]{36})\b",
        entropy: Some(3.0),
        matches: &["//registry.npmjs.org/:_authToken=npm_%{A:36}", "NPM_TOKEN=npm_%{A:36}"],
        quiet: &["npm_%{A:10}", "npm_config_cache_directory_for_builds"],
        ..EXACT
    },
    Rule {
        id: "npmrc-auth-token",
        description: "Registry auth token in .npmrc / .yarnrc",
        keywords: &["_authToken", "npmAuthToken"],
        pattern: r#"(?:(?:^|[\s:])_authToken|npmAuthToken)["']?\s*[=:]\s*["']?([A-Za-z0-9_.\-+/=]{20,})"#,
        entropy: Some(3.5),
        matches: &["//npm.pkg.github.com/:_authToken=%{A:40}", "npmAuthToken: \"%{u:36}\""],
        quiet: &["//registry.npmjs.org/:_authToken=${NPM_TOKEN}", "_authToken=%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "npmrc-basic-auth",
        description: "Base64 user:password in .npmrc `_auth`",
        keywords: &["_auth"],
        case_sensitive: false,
        pattern: r#"(?:^|[\s:])_auth\s*=\s*["']?([A-Za-z0-9+/]{12,}={0,2})"#,
        check: Some(base64_user_password),
        entropy: Some(3.0),
        matches: &["_auth = ZGVwbG95OnM0dEty%{A:12}"],
        quiet: &["_auth=${NPM_AUTH}", "_auth = bm90LWEtdXNlci1wYXNz"],
        ..EXACT
    },
    Rule {
        id: "pypi-upload-token",
        description: "PyPI or TestPyPI upload token",
        keywords: &["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"],
        pattern: concat!(r"\b(pypi-Ag(?:EIcHlwaS5vcmc|ENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})", tail!()),
        entropy: Some(3.5),
        matches: &["password = pypi-AgEIcHlwaS5vcmc%{u:120}"],
        quiet: &["pypi-AgEIcHlwaS5vcmc%{u:10}", "pypi-token-here"],
        ..EXACT
    },
    Rule {
        id: "rubygems-api-key",
        description: "RubyGems API key",
        keywords: &["rubygems_"],
        pattern: r"\b(rubygems_[a-f0-9]{48})\b",
        matches: &[":rubygems_api_key: rubygems_%{h:48}"],
        quiet: &["rubygems_%{h:12}", "rubygems_version_for_the_bundle"],
        ..EXACT
    },
    Rule {
        id: "nuget-api-key",
        description: "NuGet API key",
        keywords: &["oy2"],
        pattern: r"\b(oy2[a-z0-9]{43})\b",
        entropy: Some(3.5),
        matches: &["dotnet nuget push app.nupkg --api-key oy2%{a:43} --source https://api.nuget.org/v3/index.json"],
        quiet: &["oy2%{a:10}"],
        ..EXACT
    },
    Rule {
        id: "crates-io-token",
        description: "crates.io API token",
        keywords: &["cio"],
        pattern: r"\b(cio[A-Za-z0-9]{32})\b",
        entropy: Some(3.5),
        matches: &["CARGO_REGISTRY_TOKEN=cio%{A:32}", "[registry]\ntoken = \"cio%{A:32}\""],
        quiet: &["cio%{A:10}", "ciao_bella_this_is_not_a_token_at_all"],
        ..EXACT
    },
    Rule {
        id: "docker-hub-token",
        description: "Docker Hub personal or organisation access token",
        keywords: &["dckr_pat_", "dckr_oat_"],
        pattern: concat!(r"\b(dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,36})", tail!()),
        entropy: Some(3.5),
        matches: &["echo dckr_pat_%{u:27} | docker login -u acme --password-stdin"],
        quiet: &["dckr_pat_%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "docker-config-auth",
        description: "Registry credentials in a Docker config.json",
        keywords: &["\"auth\""],
        case_sensitive: false,
        pattern: r#""auth"\s*:\s*"([A-Za-z0-9+/]{12,}={0,2})""#,
        check: Some(base64_user_password),
        entropy: Some(3.0),
        matches: &["{\"auths\": {\"ghcr.io\": {\"auth\": \"Y2k6Z2hw%{A:40}\"}}}"],
        quiet: &["{\"auth\": \"\"}", "{\"auth\": \"bm90LWEtdXNlci1wYXNz\"}"],
        ..EXACT
    },
    Rule {
        id: "jfrog-api-key",
        description: "JFrog Artifactory API key",
        keywords: &["AKCp"],
        pattern: r"\b(AKCp[A-Za-z0-9]{69})\b",
        entropy: Some(3.5),
        matches: &["ARTIFACTORY_API_KEY=AKCp%{A:69}"],
        quiet: &["AKCp%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "jfrog-identity-token",
        description: "JFrog identity / reference token",
        keywords: &["cmVmdGtuOjAxOj"],
        pattern: r"\b(cmVmdGtuOjAxOj[A-Za-z0-9]{40,})\b",
        entropy: Some(3.5),
        matches: &["JFROG_ACCESS_TOKEN=cmVmdGtuOjAxOj%{A:50}"],
        quiet: &["cmVmdGtuOjAxOj%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "clojars-token",
        description: "Clojars deploy token",
        keywords: &["CLOJARS_"],
        pattern: r"\b(CLOJARS_[a-z0-9]{60})\b",
        matches: &["CLOJARS_PASSWORD=CLOJARS_%{a:60}"],
        quiet: &["CLOJARS_USERNAME=acme"],
        ..EXACT
    },
    Rule {
        id: "gradle-publish-secret",
        description: "Gradle Plugin Portal publishing secret",
        keywords: &["gradle.publish.secret", "gradle_publish_secret"],
        pattern: keyed!(r"gradle[._]publish[._]secret", "[A-Za-z0-9]{32}"),
        entropy: Some(3.5),
        matches: &["gradle.publish.secret=%{A:32}"],
        quiet: &["gradle.publish.secret=${GRADLE_SECRET}"],
        ..KEYED
    },
    Rule {
        id: "maven-settings-password",
        description: "Maven / Gradle registry password in build settings",
        keywords: &["<password>"],
        case_sensitive: false,
        pattern: r"<server>[\s\S]{0,300}?<password>([^<\s$]{8,128})</password>",
        entropy: Some(3.5),
        multiline: true,
        matches: &["<server>\n  <id>github</id>\n  <username>ci</username>\n  <password>%{A:32}</password>\n</server>"],
        quiet: &["<server>\n  <id>github</id>\n  <password>${env.GITHUB_TOKEN}</password>\n</server>"],
        ..EXACT
    },
];
