//! Observability, AI, identity, productivity and other hosted services.

use super::{EXACT, KEYED, Rule, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "sentry-auth-token",
        description: "Sentry organisation or user auth token",
        keywords: &["sntrys_", "sntryu_"],
        pattern: concat!(r"\b((?:sntrys_eyJ[A-Za-z0-9+/=_\-]{80,}|sntryu_[a-f0-9]{64}))", tail!()),
        entropy: Some(3.5),
        matches: &["SENTRY_AUTH_TOKEN=sntrys_eyJ%{b:120}", "SENTRY_AUTH_TOKEN=sntryu_%{h:64}"],
        quiet: &["sntryu_%{h:12}"],
        ..EXACT
    },
    Rule {
        id: "grafana-cloud-token",
        description: "Grafana Cloud access policy token",
        keywords: &["glc_"],
        pattern: r"\b(glc_[A-Za-z0-9+/]{32,400}={0,2})",
        entropy: Some(3.5),
        matches: &["GRAFANA_CLOUD_TOKEN=glc_%{b:120}=="],
        quiet: &["glc_%{b:8}"],
        ..EXACT
    },
    Rule {
        id: "grafana-service-account-token",
        description: "Grafana service account token",
        keywords: &["glsa_"],
        pattern: r"\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b",
        entropy: Some(3.5),
        matches: &["GRAFANA_TOKEN=glsa_%{A:32}_%{h:8}"],
        quiet: &["glsa_%{A:8}_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "grafana-api-key",
        description: "Grafana API key (legacy)",
        keywords: &["eyJrIjoi"],
        pattern: r"\b(eyJrIjoi[A-Za-z0-9+/]{60,}={0,2})",
        entropy: Some(3.5),
        matches: &["GRAFANA_API_KEY=eyJrIjoi%{b:80}=="],
        quiet: &["eyJrIjoi%{b:10}"],
        ..EXACT
    },
    Rule {
        id: "datadog-api-key",
        description: "Datadog API or application key",
        keywords: &["datadog", "dd_api_key", "dd_app_key", "dd-api-key", "dd-application-key", "dd_application_key"],
        pattern: keyed!(r"datadog|dd[_\-]api[_\-]key|dd[_\-]app(?:lication)?[_\-]key", r"[a-f0-9]{40}|[a-f0-9]{32}"),
        matches: &["DD_API_KEY=%{h:32}", "datadog_app_key: \"%{h:40}\""],
        quiet: &["DD_API_KEY=${DD_API_KEY}", "DATADOG_SITE=datadoghq.eu"],
        ..KEYED
    },
    Rule {
        id: "new-relic-api-key",
        description: "New Relic user, insights insert or query key",
        keywords: &["NRAK-", "NRII-", "NRIQ-"],
        pattern: concat!(r"\b((?:NRAK-[A-Z0-9]{27}|NRI[IQ]-[A-Za-z0-9_\-]{32}))", tail!()),
        entropy: Some(3.5),
        matches: &["NEW_RELIC_API_KEY=NRAK-%{U:27}", "insert_key: NRII-%{u:32}"],
        quiet: &["NRAK-%{U:8}"],
        ..EXACT
    },
    Rule {
        id: "new-relic-license-key",
        description: "New Relic ingest license key",
        keywords: &["NRAL"],
        pattern: r"\b([a-f0-9]{36}NRAL)\b",
        matches: &["NEW_RELIC_LICENSE_KEY=%{h:36}NRAL"],
        quiet: &["%{h:8}NRAL"],
        ..EXACT
    },
    Rule {
        id: "dynatrace-token",
        description: "Dynatrace API token",
        keywords: &["dt0c01."],
        pattern: r"\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b",
        matches: &["DT_API_TOKEN=dt0c01.%{U:24}.%{U:64}"],
        quiet: &["dt0c01.%{U:24}.%{U:8}"],
        ..EXACT
    },
    Rule {
        id: "splunk-hec-token",
        description: "Splunk HTTP Event Collector token",
        keywords: &["splunk", "hec_token", "hec-token"],
        pattern: keyed!(
            r"splunk|hec[_\-]token",
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        ),
        matches: &["SPLUNK_HEC_TOKEN=%{uuid}"],
        quiet: &["SPLUNK_INDEX=main"],
        ..KEYED
    },
    Rule {
        id: "bugsnag-api-key",
        description: "Bugsnag API key",
        keywords: &["bugsnag"],
        pattern: keyed!("bugsnag", "[a-f0-9]{32}"),
        matches: &["BUGSNAG_API_KEY=%{h:32}"],
        quiet: &["BUGSNAG_RELEASE_STAGE=production"],
        ..KEYED
    },
    Rule {
        id: "rollbar-access-token",
        description: "Rollbar access token",
        keywords: &["rollbar"],
        pattern: keyed!("rollbar", "[a-f0-9]{32}"),
        matches: &["ROLLBAR_ACCESS_TOKEN=%{h:32}"],
        quiet: &["ROLLBAR_ENV=production"],
        ..KEYED
    },
    Rule {
        id: "postman-api-key",
        description: "Postman API key",
        keywords: &["PMAK-"],
        pattern: r"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b",
        matches: &["POSTMAN_API_KEY=PMAK-%{h:24}-%{h:34}"],
        quiet: &["PMAK-%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "linear-api-key",
        description: "Linear API key",
        keywords: &["lin_api_"],
        pattern: r"\b(lin_api_[A-Za-z0-9]{40})\b",
        entropy: Some(3.5),
        matches: &["LINEAR_API_KEY=lin_api_%{A:40}"],
        quiet: &["lin_api_%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "notion-token",
        description: "Notion integration token",
        keywords: &["ntn_"],
        pattern: r"\b(ntn_[0-9]{11}[A-Za-z0-9]{35})\b",
        entropy: Some(3.5),
        matches: &["NOTION_TOKEN=ntn_%{d:11}%{A:35}"],
        quiet: &["ntn_%{d:11}"],
        ..EXACT
    },
    Rule {
        id: "notion-integration-secret",
        description: "Notion integration secret (legacy format)",
        keywords: &["notion"],
        pattern: keyed!("notion", "secret_[A-Za-z0-9]{43}"),
        entropy: Some(3.5),
        matches: &["NOTION_API_KEY=secret_%{A:43}"],
        quiet: &["NOTION_DATABASE_ID=%{h:32}"],
        ..KEYED
    },
    Rule {
        id: "airtable-token",
        description: "Airtable personal access token or API key",
        keywords: &["airtable"],
        pattern: keyed!("airtable", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}|key[A-Za-z0-9]{14}"),
        entropy: Some(3.5),
        matches: &["AIRTABLE_TOKEN=pat%{A:14}.%{h:64}"],
        quiet: &["AIRTABLE_BASE=app%{A:14}"],
        ..KEYED
    },
    Rule {
        id: "hubspot-private-app-token",
        description: "HubSpot private app access token",
        keywords: &["pat-na1-", "pat-eu1-"],
        pattern: concat!(r"\b(pat-(?:na|eu)1-", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r")\b"),
        matches: &["HUBSPOT_TOKEN=pat-na1-%{uuid}"],
        quiet: &["pat-na1-%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "asana-pat",
        description: "Asana personal access token",
        keywords: &["asana"],
        pattern: keyed!("asana", r"[0-9]/[0-9]{16}(?:/[0-9]{16})?:[A-Za-z0-9]{32}"),
        entropy: Some(3.5),
        matches: &["ASANA_PAT=2/%{d:16}/%{d:16}:%{h:32}"],
        quiet: &["ASANA_WORKSPACE=%{d:16}"],
        ..KEYED
    },
    Rule {
        id: "trello-token",
        description: "Trello API token",
        keywords: &["trello"],
        pattern: keyed!("trello", r"ATTA[A-Za-z0-9]{60,80}|[a-f0-9]{64}"),
        entropy: Some(3.5),
        matches: &["TRELLO_TOKEN=ATTA%{h:64}%{H:8}"],
        quiet: &["TRELLO_BOARD=%{A:8}"],
        ..KEYED
    },
    Rule {
        id: "typeform-token",
        description: "Typeform personal access token",
        keywords: &["tfp_"],
        pattern: concat!(r"\b(tfp_[A-Za-z0-9_.=\-]{59})", tail!()),
        entropy: Some(3.5),
        matches: &["TYPEFORM_TOKEN=tfp_%{u:59}"],
        quiet: &["tfp_%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "figma-token",
        description: "Figma personal access token",
        keywords: &["figd_"],
        pattern: concat!(r"\b(figd_[A-Za-z0-9_\-]{40})", tail!()),
        entropy: Some(3.5),
        matches: &["FIGMA_TOKEN=figd_%{u:40}"],
        quiet: &["figd_%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "contentful-token",
        description: "Contentful personal access token",
        keywords: &["CFPAT-"],
        pattern: concat!(r"\b(CFPAT-[A-Za-z0-9_\-]{43})", tail!()),
        entropy: Some(3.5),
        matches: &["CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-%{u:43}"],
        quiet: &["CFPAT-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "dropbox-token",
        description: "Dropbox short-lived access token",
        keywords: &["sl."],
        pattern: concat!(r"\b(sl\.[A-Za-z0-9_\-]{130,})", tail!()),
        entropy: Some(4.0),
        matches: &["DROPBOX_TOKEN=sl.B%{u:140}"],
        quiet: &["sl.%{u:20}"],
        ..EXACT
    },
    Rule {
        id: "mapbox-secret-token",
        description: "Mapbox secret access token",
        keywords: &["sk.eyJ1Ijoi"],
        pattern: concat!(r"\b(sk\.eyJ1Ijoi[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{22})", tail!()),
        entropy: Some(3.5),
        matches: &["MAPBOX_DOWNLOADS_TOKEN=sk.eyJ1Ijoi%{u:40}.%{u:22}"],
        quiet: &["pk.eyJ1Ijoi%{u:40}.%{u:22}"],
        ..EXACT
    },
    Rule {
        id: "frameio-token",
        description: "Frame.io API token",
        keywords: &["fio-u-"],
        pattern: concat!(r"\b(fio-u-[A-Za-z0-9_=\-]{64})", tail!()),
        entropy: Some(3.5),
        matches: &["FRAMEIO_TOKEN=fio-u-%{u:64}"],
        quiet: &["fio-u-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "prefect-api-key",
        description: "Prefect Cloud API key",
        keywords: &["pnu_"],
        pattern: r"\b(pnu_[A-Za-z0-9]{36})\b",
        entropy: Some(3.5),
        matches: &["PREFECT_API_KEY=pnu_%{A:36}"],
        quiet: &["pnu_%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "readme-api-key",
        description: "ReadMe API key",
        keywords: &["rdme_"],
        pattern: r"\b(rdme_[a-z0-9]{70})\b",
        entropy: Some(3.5),
        matches: &["README_API_KEY=rdme_%{a:70}"],
        quiet: &["rdme_%{a:8}"],
        ..EXACT
    },
    Rule {
        id: "openai-api-key",
        description: "OpenAI API key",
        keywords: &["T3BlbkFJ"],
        pattern: concat!(
            r"\b(sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\-]{20,74}T3BlbkFJ[A-Za-z0-9_\-]{20,74})",
            tail!()
        ),
        entropy: Some(3.5),
        matches: &["OPENAI_API_KEY=sk-proj-%{u:74}T3BlbkFJ%{u:74}", "openai.api_key = \"sk-%{A:20}T3BlbkFJ%{A:20}\""],
        quiet: &["sk-%{A:20}", "T3BlbkFJ"],
        ..EXACT
    },
    Rule {
        id: "anthropic-api-key",
        description: "Anthropic API or admin key",
        keywords: &["sk-ant-"],
        pattern: concat!(r"\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA)", tail!()),
        entropy: Some(3.5),
        matches: &["ANTHROPIC_API_KEY=sk-ant-api03-%{u:93}AA"],
        quiet: &["sk-ant-api03-%{u:20}"],
        ..EXACT
    },
    Rule {
        id: "groq-api-key",
        description: "Groq API key",
        keywords: &["gsk_"],
        pattern: r"\b(gsk_[A-Za-z0-9]{52})\b",
        entropy: Some(3.5),
        matches: &["GROQ_API_KEY=gsk_%{A:52}"],
        quiet: &["gsk_%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "replicate-api-token",
        description: "Replicate API token",
        keywords: &["r8_"],
        pattern: r"\b(r8_[A-Za-z0-9]{37})\b",
        entropy: Some(3.5),
        matches: &["REPLICATE_API_TOKEN=r8_%{A:37}"],
        quiet: &["r8_%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "perplexity-api-key",
        description: "Perplexity API key",
        keywords: &["pplx-"],
        pattern: r"\b(pplx-[A-Za-z0-9]{48})\b",
        entropy: Some(3.5),
        matches: &["PERPLEXITY_API_KEY=pplx-%{A:48}"],
        quiet: &["pplx-%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "xai-api-key",
        description: "xAI API key",
        keywords: &["xai-"],
        pattern: r"\b(xai-[A-Za-z0-9]{80})\b",
        entropy: Some(3.5),
        matches: &["XAI_API_KEY=xai-%{A:80}"],
        quiet: &["xai-%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "langsmith-api-key",
        description: "LangSmith API key",
        keywords: &["lsv2_"],
        pattern: r"\b(lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b",
        matches: &["LANGCHAIN_API_KEY=lsv2_pt_%{h:32}_%{h:10}"],
        quiet: &["lsv2_pt_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "cohere-api-key",
        description: "Cohere API key",
        keywords: &["cohere", "co_api_key"],
        pattern: keyed!(r"cohere|co_api_key", "[A-Za-z0-9]{40}"),
        entropy: Some(3.8),
        matches: &["COHERE_API_KEY=%{A:40}"],
        quiet: &["COHERE_MODEL=command-r"],
        ..KEYED
    },
    Rule {
        id: "mistral-api-key",
        description: "Mistral AI API key",
        keywords: &["mistral"],
        pattern: keyed!("mistral", "[A-Za-z0-9]{32}"),
        entropy: Some(3.8),
        matches: &["MISTRAL_API_KEY=%{A:32}"],
        quiet: &["MISTRAL_MODEL=mistral-large-latest"],
        ..KEYED
    },
    Rule {
        id: "elevenlabs-api-key",
        description: "ElevenLabs API key",
        keywords: &["elevenlabs", "xi-api-key", "xi_api_key"],
        pattern: keyed!(r"elevenlabs|xi[_\-]api[_\-]key", "(?:sk_)?[a-f0-9]{32,48}"),
        matches: &["ELEVENLABS_API_KEY=sk_%{h:48}"],
        quiet: &["ELEVENLABS_VOICE=Rachel"],
        ..KEYED
    },
    Rule {
        id: "okta-api-token",
        description: "Okta API token",
        keywords: &["okta"],
        pattern: keyed!("okta", r"00[A-Za-z0-9_\-]{40}"),
        entropy: Some(3.5),
        matches: &["OKTA_API_TOKEN=00%{u:40}"],
        quiet: &["OKTA_DOMAIN=acme.okta.com"],
        ..KEYED
    },
    Rule {
        id: "auth0-client-secret",
        description: "Auth0 client secret",
        keywords: &["auth0"],
        pattern: keyed!("auth0", r"[A-Za-z0-9_\-]{64}"),
        entropy: Some(4.0),
        matches: &["AUTH0_CLIENT_SECRET=%{u:64}"],
        quiet: &["AUTH0_DOMAIN=acme.eu.auth0.com"],
        ..KEYED
    },
    Rule {
        id: "facebook-access-token",
        description: "Facebook / Meta access token",
        keywords: &["EAACEdEose0cBA", "EAAG", "EAAJ"],
        pattern: r"\b((?:EAACEdEose0cBA|EAAG|EAAJ)[A-Za-z0-9]{60,})\b",
        entropy: Some(3.5),
        matches: &["FB_ACCESS_TOKEN=EAAG%{A:120}"],
        quiet: &["EAAG%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "facebook-app-secret",
        description: "Facebook / Meta app secret",
        keywords: &["facebook", "fb_app_secret", "fb_secret"],
        pattern: keyed!(r"facebook|fb_app_secret|fb_secret", "[a-f0-9]{32}"),
        matches: &["FACEBOOK_APP_SECRET=%{h:32}"],
        quiet: &["FACEBOOK_APP_ID=%{d:15}"],
        ..KEYED
    },
    Rule {
        id: "twitter-bearer-token",
        description: "X / Twitter API bearer token",
        keywords: &["AAAAAAAAAAAAAAAAAAAAA"],
        pattern: r"\b(A{20,22}[A-Za-z0-9%]{60,120})\b",
        entropy: Some(3.0),
        matches: &["TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAA%{A:90}"],
        quiet: &["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "twitter-api-secret",
        description: "X / Twitter API key secret or access token secret",
        keywords: &["twitter"],
        pattern: keyed!("twitter", "[A-Za-z0-9]{45,50}"),
        entropy: Some(4.0),
        matches: &["TWITTER_API_SECRET=%{A:50}"],
        quiet: &["TWITTER_HANDLE=acme"],
        ..KEYED
    },
    Rule {
        id: "yandex-api-key",
        description: "Yandex Cloud API key",
        keywords: &["AQVN"],
        pattern: concat!(r"\b(AQVN[A-Za-z0-9_\-]{35,38})", tail!()),
        entropy: Some(3.5),
        matches: &["YC_API_KEY=AQVN%{u:36}"],
        quiet: &["AQVN%{u:8}"],
        ..EXACT
    },
];
