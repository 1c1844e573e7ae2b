//! Chat, email and notification services.

use super::{EXACT, KEYED, Rule, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "slack-bot-token",
        description: "Slack bot token",
        keywords: &["xoxb-"],
        pattern: r"\b(xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24})\b",
        matches: &["SLACK_BOT_TOKEN=xoxb-%{d:12}-%{d:13}-%{A:24}"],
        quiet: &["xoxb-not-a-real-token", "xoxb-%{d:12}-%{d:13}-%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "slack-user-token",
        description: "Slack user token",
        keywords: &["xoxp-"],
        pattern: r"\b(xoxp-[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-f0-9]{32})\b",
        matches: &["slack_token: xoxp-%{d:12}-%{d:12}-%{d:13}-%{h:32}"],
        quiet: &["xoxp-%{d:12}-%{h:32}"],
        ..EXACT
    },
    Rule {
        id: "slack-app-token",
        description: "Slack app-level token",
        keywords: &["xapp-"],
        pattern: r"\b(xapp-\d-[A-Z0-9]{9,12}-\d{10,14}-[a-f0-9]{64})\b",
        matches: &["SLACK_APP_TOKEN=xapp-1-A%{U:10}-%{d:13}-%{h:64}"],
        quiet: &["xapp-1-%{U:10}"],
        ..EXACT
    },
    Rule {
        id: "slack-config-token",
        description: "Slack configuration access or refresh token",
        keywords: &["xoxe.xox", "xoxe-"],
        pattern: r"\b(xoxe(?:\.xox[bp])?-\d-[A-Za-z0-9]{140,})\b",
        entropy: Some(3.5),
        matches: &["SLACK_CONFIG_TOKEN=xoxe.xoxp-1-%{A:160}", "refresh: xoxe-1-%{A:146}"],
        quiet: &["xoxe-1-%{A:20}"],
        ..EXACT
    },
    Rule {
        id: "slack-legacy-token",
        description: "Slack legacy workspace, bot or refresh token",
        keywords: &["xoxa-", "xoxo-", "xoxr-", "xoxs-"],
        pattern: r"\b(xox[aors]-(?:\d+-)+[0-9A-Za-z]{10,})\b",
        entropy: Some(3.0),
        matches: &["SLACK_TOKEN=xoxs-%{d:10}-%{d:11}-%{d:12}-%{A:64}"],
        quiet: &["xoxs-token-goes-here"],
        ..EXACT
    },
    Rule {
        id: "slack-webhook-url",
        description: "Slack incoming webhook or workflow trigger URL",
        keywords: &["hooks.slack.com/"],
        pattern: r"(https://hooks\.slack\.com/(?:services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}|(?:workflows|triggers)/T[A-Z0-9]{8,12}/A[A-Z0-9]{8,12}/\d+/[a-f0-9]{32}))",
        entropy: Some(3.0),
        matches: &["SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T%{U:10}/B%{U:10}/%{A:24}"],
        quiet: &["https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"],
        ..EXACT
    },
    Rule {
        id: "discord-webhook-url",
        description: "Discord webhook URL",
        keywords: &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        case_sensitive: false,
        pattern: concat!(
            r"(https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_\-]{60,68})",
            tail!()
        ),
        entropy: Some(3.0),
        matches: &["DISCORD_WEBHOOK=https://discord.com/api/webhooks/%{d:19}/%{u:68}"],
        quiet: &["https://discord.com/api/webhooks/{id}/{token}"],
        ..EXACT
    },
    Rule {
        id: "discord-bot-token",
        description: "Discord bot token",
        keywords: &["discord"],
        pattern: keyed!("discord", r"[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,38}"),
        entropy: Some(3.5),
        matches: &["DISCORD_BOT_TOKEN=M%{A:25}.%{u:6}.%{u:38}"],
        quiet: &["DISCORD_GUILD_ID=%{d:18}", "discord_token = os.getenv('DISCORD_TOKEN')"],
        ..KEYED
    },
    Rule {
        id: "telegram-bot-token",
        description: "Telegram bot token",
        keywords: &[":AA"],
        pattern: concat!(r"(?:^|[^0-9A-Za-z])(\d{8,10}:AA[A-Za-z0-9_\-]{33})", tail!()),
        entropy: Some(3.5),
        matches: &["TELEGRAM_BOT_TOKEN=%{d:10}:AA%{u:33}", "bot = Bot(token=\"%{d:9}:AA%{u:33}\")"],
        quiet: &["%{d:10}:AA%{u:10}", "12:AAAA"],
        ..EXACT
    },
    Rule {
        id: "twilio-api-key",
        description: "Twilio API key SID",
        keywords: &["twilio"],
        pattern: keyed!("twilio", "SK[0-9a-fA-F]{32}"),
        matches: &["TWILIO_API_KEY=SK%{h:32}"],
        quiet: &["TWILIO_ACCOUNT_SID=AC%{h:32}x", "twilio_key = settings.TWILIO_KEY"],
        ..KEYED
    },
    Rule {
        id: "twilio-auth-token",
        description: "Twilio auth token",
        keywords: &["twilio"],
        pattern: keyed!("twilio", "[0-9a-f]{32}"),
        matches: &["TWILIO_AUTH_TOKEN=%{h:32}", "twilio_auth_token: \"%{h:32}\""],
        quiet: &["TWILIO_PHONE=+15005550006", "TWILIO_AUTH_TOKEN=%{h:12}"],
        ..KEYED
    },
    Rule {
        id: "sendgrid-api-key",
        description: "SendGrid API key",
        keywords: &["SG."],
        pattern: concat!(r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})", tail!()),
        entropy: Some(3.5),
        matches: &["SENDGRID_API_KEY=SG.%{u:22}.%{u:43}"],
        quiet: &["msg.%{u:22}.%{u:43}", "SG.%{u:22}"],
        ..EXACT
    },
    Rule {
        id: "mailgun-api-key",
        description: "Mailgun API key",
        keywords: &["mailgun"],
        pattern: keyed!("mailgun", r"(?:key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})"),
        matches: &["MAILGUN_API_KEY=key-%{h:32}", "mailgun_key: %{h:32}-%{h:8}-%{h:8}"],
        quiet: &["MAILGUN_DOMAIN=mg.example.com", "MAILGUN_API_KEY=key-%{h:8}"],
        ..KEYED
    },
    Rule {
        id: "mailchimp-api-key",
        description: "Mailchimp API key",
        keywords: &["-us"],
        pattern: r"\b([0-9a-f]{32}-us\d{1,2})\b",
        matches: &["MAILCHIMP_API_KEY=%{h:32}-us21"],
        quiet: &["%{h:12}-us21", "locale en-us"],
        ..EXACT
    },
    Rule {
        id: "postmark-server-token",
        description: "Postmark server or account token",
        keywords: &["postmark"],
        pattern: keyed!("postmark", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        matches: &["POSTMARK_SERVER_TOKEN=%{uuid}"],
        quiet: &["POSTMARK_FROM=ops@example.com"],
        ..KEYED
    },
    Rule {
        id: "brevo-api-key",
        description: "Brevo (Sendinblue) API or SMTP key",
        keywords: &["xkeysib-", "xsmtpsib-"],
        pattern: r"\b(x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16})\b",
        matches: &["BREVO_API_KEY=xkeysib-%{h:64}-%{A:16}"],
        quiet: &["xkeysib-%{h:8}-%{A:16}"],
        ..EXACT
    },
    Rule {
        id: "mandrill-api-key",
        description: "Mailchimp Transactional (Mandrill) API key",
        keywords: &["mandrill"],
        pattern: keyed!("mandrill", r"(?:md-)?[A-Za-z0-9_\-]{22}"),
        entropy: Some(3.5),
        matches: &["MANDRILL_API_KEY=md-%{u:22}"],
        quiet: &["MANDRILL_SUBACCOUNT=transactional"],
        ..KEYED
    },
    Rule {
        id: "teams-webhook-url",
        description: "Microsoft Teams incoming webhook URL",
        keywords: &[".webhook.office.com/webhookb2/"],
        case_sensitive: false,
        pattern: r"(https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[0-9a-f\-]{36}@[0-9a-f\-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f\-]{36}(?:/[A-Za-z0-9_\-]+)?)",
        matches: &[
            "TEAMS_WEBHOOK=https://acme.webhook.office.com/webhookb2/%{uuid}@%{uuid}/IncomingWebhook/%{h:32}/%{uuid}",
        ],
        quiet: &["https://acme.webhook.office.com/webhookb2/<id>"],
        ..EXACT
    },
    Rule {
        id: "intercom-access-token",
        description: "Intercom access token",
        keywords: &["intercom"],
        pattern: keyed!("intercom", r"dG9rO[A-Za-z0-9+/_\-]{40,}={0,2}"),
        entropy: Some(3.5),
        matches: &["INTERCOM_ACCESS_TOKEN=dG9rOj%{b:54}="],
        quiet: &["INTERCOM_APP_ID=%{a:8}"],
        ..KEYED
    },
    Rule {
        id: "zendesk-api-token",
        description: "Zendesk API token",
        keywords: &["zendesk"],
        pattern: keyed!("zendesk", "[A-Za-z0-9]{40}"),
        entropy: Some(3.8),
        matches: &["ZENDESK_API_TOKEN=%{A:40}"],
        quiet: &["ZENDESK_SUBDOMAIN=acme"],
        ..KEYED
    },
    Rule {
        id: "pagerduty-api-key",
        description: "PagerDuty API or integration key",
        keywords: &["pagerduty", "pd_token", "pd_api"],
        pattern: keyed!(r"pagerduty|pd_token|pd_api", r"(?:u\+)?[A-Za-z0-9_+\-]{20,32}"),
        entropy: Some(3.0),
        matches: &["PAGERDUTY_TOKEN=u+%{u:18}", "pagerduty_integration_key: %{h:32}"],
        quiet: &["PAGERDUTY_SERVICE=checkout", "pagerduty_token = y_NbAkKc66ryYTWUXYEu"],
        ..KEYED
    },
    Rule {
        id: "ngrok-authtoken",
        description: "ngrok authtoken",
        keywords: &["ngrok"],
        pattern: keyed!("ngrok", "[0-9A-Za-z]{25,27}_[0-9A-Za-z]{20,21}"),
        entropy: Some(3.5),
        matches: &["NGROK_AUTHTOKEN=2%{A:26}_%{A:21}"],
        quiet: &["NGROK_REGION=eu"],
        ..KEYED
    },
];
