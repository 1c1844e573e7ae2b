//! Source hosting, CI/CD and developer platforms.

use super::{EXACT, KEYED, Rule, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "github-pat",
        description: "GitHub personal access token (classic)",
        keywords: &["ghp_"],
        pattern: r"\b(ghp_[A-Za-z0-9]{36})\b",
        entropy: Some(3.0),
        matches: &["GITHUB_TOKEN=ghp_%{A:36}", "git clone https://ghp_%{A:36}@github.com/acme/app.git"],
        quiet: &["ghp_%{A:20}", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghp_%{A:40}"],
        ..EXACT
    },
    Rule {
        id: "github-fine-grained-pat",
        description: "GitHub fine-grained personal access token",
        keywords: &["github_pat_"],
        pattern: r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        entropy: Some(3.0),
        matches: &["token: github_pat_%{A:22}_%{A:59}"],
        quiet: &["github_pat_%{A:22}_%{A:10}", "GITHUB_PAT_NAME=deploy"],
        ..EXACT
    },
    Rule {
        id: "github-oauth-token",
        description: "GitHub OAuth access token",
        keywords: &["gho_"],
        pattern: r"\b(gho_[A-Za-z0-9]{36})\b",
        entropy: Some(3.0),
        matches: &["oauth_token: gho_%{A:36}"],
        quiet: &["gho_%{A:12}"],
        ..EXACT
    },
    Rule {
        id: "github-app-token",
        description: "GitHub App user-to-server or server-to-server token",
        keywords: &["ghu_", "ghs_"],
        pattern: r"\b(gh[us]_[A-Za-z0-9]{36})\b",
        entropy: Some(3.0),
        matches: &["GH_TOKEN=ghs_%{A:36}", "\"token\": \"ghu_%{A:36}\""],
        quiet: &["ghs_%{A:12}"],
        ..EXACT
    },
    Rule {
        id: "github-refresh-token",
        description: "GitHub refresh token",
        keywords: &["ghr_"],
        pattern: r"\b(ghr_[A-Za-z0-9]{36,76})\b",
        entropy: Some(3.0),
        matches: &["refresh_token=ghr_%{A:76}"],
        quiet: &["ghr_%{A:12}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-pat",
        description: "GitLab personal, project or group access token",
        keywords: &["glpat-"],
        pattern: concat!(r"\b(glpat-[A-Za-z0-9_\-]{20}(?:[A-Za-z0-9_.\-]{7,})?)", tail!()),
        entropy: Some(3.0),
        matches: &["GITLAB_TOKEN=glpat-%{u:20}", "private_token: glpat-%{u:27}.01.%{a:9}"],
        quiet: &["glpat-%{u:10}", "glpat-xxxxxxxxxxxxxxxxxxxx"],
        ..EXACT
    },
    Rule {
        id: "gitlab-pipeline-trigger-token",
        description: "GitLab pipeline trigger token",
        keywords: &["glptt-"],
        pattern: r"\b(glptt-[a-f0-9]{40})\b",
        matches: &[
            "curl -X POST -F token=glptt-%{h:40} -F ref=main https://gitlab.com/api/v4/projects/1/trigger/pipeline",
        ],
        quiet: &["glptt-%{h:10}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-runner-registration-token",
        description: "GitLab runner registration token",
        keywords: &["GR1348941"],
        pattern: concat!(r"\b(GR1348941[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.0),
        matches: &["gitlab-runner register --registration-token GR1348941%{u:20}"],
        quiet: &["GR1348941%{u:5}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-runner-auth-token",
        description: "GitLab runner authentication token",
        keywords: &["glrt-"],
        pattern: concat!(r"\b(glrt-[A-Za-z0-9_\-]{20}(?:[A-Za-z0-9_.\-]{7,})?)", tail!()),
        entropy: Some(3.0),
        matches: &["  token = \"glrt-%{u:20}\""],
        quiet: &["glrt-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-deploy-token",
        description: "GitLab deploy token",
        keywords: &["gldt-"],
        pattern: concat!(r"\b(gldt-[A-Za-z0-9_\-]{20,})", tail!()),
        entropy: Some(3.0),
        matches: &["CI_DEPLOY_PASSWORD=gldt-%{u:20}"],
        quiet: &["gldt-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-feed-token",
        description: "GitLab feed token",
        keywords: &["glft-"],
        pattern: concat!(r"\b(glft-[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.0),
        matches: &["https://gitlab.com/dashboard/issues.atom?feed_token=glft-%{u:20}"],
        quiet: &["glft-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-incoming-mail-token",
        description: "GitLab incoming email token",
        keywords: &["glimt-"],
        pattern: concat!(r"\b(glimt-[A-Za-z0-9_\-]{25})", tail!()),
        entropy: Some(3.0),
        matches: &["GITLAB_INCOMING_EMAIL_TOKEN=glimt-%{u:25}"],
        quiet: &["glimt-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-oauth-app-secret",
        description: "GitLab OAuth application secret",
        keywords: &["gloas-"],
        pattern: concat!(r"\b(gloas-[A-Za-z0-9_\-]{64})", tail!()),
        entropy: Some(3.5),
        matches: &["GITLAB_OAUTH_SECRET=gloas-%{u:64}"],
        quiet: &["gloas-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-scim-token",
        description: "GitLab SCIM OAuth token",
        keywords: &["glsoat-"],
        pattern: concat!(r"\b(glsoat-[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.0),
        matches: &["scim_token: glsoat-%{u:20}"],
        quiet: &["glsoat-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-ci-job-token",
        description: "GitLab CI/CD job token",
        keywords: &["glcbt-"],
        pattern: concat!(r"\b(glcbt-[0-9a-fA-F]{1,5}_[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.0),
        matches: &["CI_JOB_TOKEN=glcbt-%{h:2}_%{u:20}"],
        quiet: &["glcbt-%{h:2}_%{u:6}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-agent-token",
        description: "GitLab agent for Kubernetes token",
        keywords: &["glagent-"],
        pattern: concat!(r"\b(glagent-[A-Za-z0-9_\-]{50})", tail!()),
        entropy: Some(3.5),
        matches: &["--set config.token=glagent-%{u:50}"],
        quiet: &["glagent-%{u:10}"],
        ..EXACT
    },
    Rule {
        id: "gitlab-feature-flags-token",
        description: "GitLab feature flags client token",
        keywords: &["glffct-"],
        pattern: concat!(r"\b(glffct-[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.0),
        matches: &["UNLEASH_INSTANCE_ID=glffct-%{u:20}"],
        quiet: &["glffct-%{u:6}"],
        ..EXACT
    },
    Rule {
        id: "bitbucket-app-password",
        description: "Bitbucket app password",
        keywords: &["ATBB"],
        pattern: concat!(r"\b(ATBB[A-Za-z0-9_=.\-]{32})", tail!()),
        entropy: Some(3.5),
        matches: &["BITBUCKET_APP_PASSWORD=ATBB%{A:32}"],
        quiet: &["ATBB%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "atlassian-api-token",
        description: "Atlassian (Jira, Confluence, Bitbucket) API or access token",
        keywords: &["ATATT3", "ATCTT3"],
        pattern: concat!(r"\b(AT[AC]TT3[A-Za-z0-9_=\-]{180,})", tail!()),
        entropy: Some(3.5),
        matches: &["JIRA_API_TOKEN=ATATT3xFfGF0%{u:174}=%{H:8}"],
        quiet: &["ATATT3%{u:20}"],
        ..EXACT
    },
    Rule {
        id: "huggingface-token",
        description: "Hugging Face access or organisation token",
        keywords: &["hf_", "api_org_"],
        pattern: r"\b((?:hf_|api_org_)[A-Za-z]{34})\b",
        entropy: Some(3.5),
        matches: &["HF_TOKEN=hf_%{L:34}", "token = \"api_org_%{L:34}\""],
        quiet: &["hf_%{L:10}", "hf_hub_download_and_cache_the_model"],
        ..EXACT
    },
    Rule {
        id: "circleci-token",
        description: "CircleCI personal or project API token",
        keywords: &["CCIPAT_", "CCIPRJ_"],
        pattern: r"\b(CCIP(?:AT|RJ)_[A-Za-z0-9]{22}_[a-f0-9]{40})\b",
        entropy: Some(3.5),
        matches: &["CIRCLE_TOKEN=CCIPAT_%{A:22}_%{h:40}"],
        quiet: &["CCIPAT_%{A:22}_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "buildkite-token",
        description: "Buildkite API access token",
        keywords: &["bkua_"],
        pattern: r"\b(bkua_[a-f0-9]{40})\b",
        matches: &["BUILDKITE_API_TOKEN=bkua_%{h:40}"],
        quiet: &["bkua_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "travis-ci-token",
        description: "Travis CI API token",
        keywords: &["travis"],
        pattern: keyed!("travis", r"[A-Za-z0-9_\-]{22}"),
        entropy: Some(3.5),
        matches: &["TRAVIS_API_TOKEN=%{A:22}"],
        quiet: &["TRAVIS_BRANCH=main", "travis_token: $TRAVIS_TOKEN"],
        ..KEYED
    },
    Rule {
        id: "jenkins-api-token",
        description: "Jenkins API token",
        keywords: &["jenkins"],
        pattern: keyed!("jenkins", "11[a-f0-9]{32}"),
        matches: &["JENKINS_API_TOKEN=11%{h:32}", "jenkins_token: '11%{h:32}'"],
        quiet: &["JENKINS_URL=https://ci.internal/", "JENKINS_API_TOKEN=22%{h:32}"],
        ..KEYED
    },
    Rule {
        id: "sonarqube-token",
        description: "SonarQube / SonarCloud token",
        keywords: &["sqp_", "squ_", "sqa_"],
        pattern: r"\b(sq[pua]_[a-f0-9]{40})\b",
        matches: &["SONAR_TOKEN=squ_%{h:40}", "sonar.login=sqp_%{h:40}"],
        quiet: &["sqp_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "codecov-token",
        description: "Codecov upload token",
        keywords: &["codecov"],
        pattern: keyed!("codecov", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        matches: &["CODECOV_TOKEN=%{uuid}"],
        quiet: &["CODECOV_TOKEN=${{ secrets.CODECOV_TOKEN }}", "codecov_flags: unit"],
        ..KEYED
    },
    Rule {
        id: "snyk-token",
        description: "Snyk API token",
        keywords: &["snyk"],
        pattern: keyed!("snyk", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        matches: &["SNYK_TOKEN=%{uuid}"],
        quiet: &["SNYK_ORG=acme", "snyk_token: ${SNYK_TOKEN}"],
        ..KEYED
    },
    Rule {
        id: "harness-pat",
        description: "Harness personal access or service account token",
        keywords: &["pat.", "sat."],
        case_sensitive: true,
        pattern: r"\b((?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[a-f0-9]{24}\.[A-Za-z0-9]{20})\b",
        entropy: Some(3.5),
        matches: &["HARNESS_API_KEY=pat.%{u:22}.%{h:24}.%{A:20}"],
        quiet: &["pat.match(line)", "pat.%{u:22}.%{h:4}"],
        ..EXACT
    },
    Rule {
        id: "sourcegraph-token",
        description: "Sourcegraph access token",
        keywords: &["sgp_"],
        pattern: r"\b(sgp_(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40})\b",
        matches: &["SRC_ACCESS_TOKEN=sgp_%{h:16}_%{h:40}"],
        quiet: &["sgp_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "octopus-deploy-api-key",
        description: "Octopus Deploy API key",
        keywords: &["octopus", "octo_api", "octoapi"],
        pattern: keyed!(r"octopus|octo_?api", r"API-[A-Z0-9]{26,32}"),
        entropy: Some(3.5),
        matches: &["OCTOPUS_API_KEY=API-%{U:26}"],
        quiet: &["OCTOPUS_API_KEY=API-XXXXXXXXXXXXXXXXXXXXXXXXXX", "API-%{U:26}"],
        ..KEYED
    },
    Rule {
        id: "launchdarkly-key",
        description: "LaunchDarkly API or SDK key",
        keywords: &["api-", "sdk-"],
        pattern: concat!(r"\b((?:api|sdk)-", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r")\b"),
        matches: &["LAUNCHDARKLY_SDK_KEY=sdk-%{uuid}"],
        quiet: &["sdk-%{h:8}", "api-version-2024-01-01"],
        ..EXACT
    },
    Rule {
        id: "stackhawk-api-key",
        description: "StackHawk API key",
        keywords: &["hawk."],
        pattern: concat!(r"\b(hawk\.[A-Za-z0-9_\-]{20}\.[A-Za-z0-9_\-]{20})", tail!()),
        entropy: Some(3.5),
        matches: &["HAWK_API_KEY=hawk.%{A:20}.%{A:20}"],
        quiet: &["hawk.%{A:6}"],
        ..EXACT
    },
    Rule {
        id: "infracost-api-key",
        description: "Infracost API key",
        keywords: &["ico-"],
        pattern: r"\b(ico-[A-Za-z0-9]{32})\b",
        entropy: Some(3.5),
        matches: &["INFRACOST_API_KEY=ico-%{A:32}"],
        quiet: &["ico-%{A:8}", "favicon-%{A:32}"],
        ..EXACT
    },
];
