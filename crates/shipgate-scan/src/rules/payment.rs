//! Payment providers and commerce platforms.

use super::{EXACT, KEYED, Rule, keyed, tail};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "stripe-secret-key",
        description: "Stripe secret API key",
        keywords: &["sk_live_", "sk_test_"],
        pattern: r"\b(sk_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        entropy: Some(3.0),
        matches: &["STRIPE_SECRET_KEY=sk_live_%{A:24}", "Stripe.api_key = \"sk_test_%{A:99}\""],
        quiet: &["sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_%{A:10}", "pk_live_%{A:24}"],
        ..EXACT
    },
    Rule {
        id: "stripe-restricted-key",
        description: "Stripe restricted API key",
        keywords: &["rk_live_", "rk_test_"],
        pattern: r"\b(rk_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        entropy: Some(3.0),
        matches: &["STRIPE_KEY=rk_live_%{A:99}"],
        quiet: &["rk_live_%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "stripe-webhook-secret",
        description: "Stripe webhook signing secret",
        keywords: &["whsec_"],
        pattern: r"\b(whsec_[A-Za-z0-9+/]{32,})",
        entropy: Some(3.5),
        matches: &["STRIPE_WEBHOOK_SECRET=whsec_%{A:32}"],
        quiet: &["whsec_%{A:8}"],
        ..EXACT
    },
    Rule {
        id: "braintree-access-token",
        description: "Braintree / PayPal access token",
        keywords: &["access_token$"],
        pattern: r"\b(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})\b",
        matches: &["BRAINTREE_TOKEN=access_token$production$%{a:16}$%{h:32}"],
        quiet: &["access_token$production$%{a:16}$%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "paypal-client-secret",
        description: "PayPal REST API client secret",
        keywords: &["paypal"],
        pattern: keyed!("paypal", r"E[A-Za-z0-9_\-]{79}"),
        entropy: Some(4.0),
        matches: &["PAYPAL_CLIENT_SECRET=E%{u:79}"],
        quiet: &["PAYPAL_MODE=live", "PAYPAL_CLIENT_SECRET=${PAYPAL_SECRET}"],
        ..KEYED
    },
    Rule {
        id: "square-access-token",
        description: "Square access token",
        keywords: &["EAAA", "sq0atp-"],
        pattern: concat!(r"\b((?:EAAA[A-Za-z0-9_\-]{60}|sq0atp-[0-9A-Za-z_\-]{22}))", tail!()),
        entropy: Some(3.5),
        matches: &["SQUARE_ACCESS_TOKEN=EAAA%{u:60}", "square_token: sq0atp-%{u:22}"],
        quiet: &["EAAA%{u:20}"],
        ..EXACT
    },
    Rule {
        id: "square-oauth-secret",
        description: "Square OAuth application secret",
        keywords: &["sq0csp-"],
        pattern: concat!(r"\b(sq0csp-[0-9A-Za-z_\-]{43})", tail!()),
        entropy: Some(3.5),
        matches: &["SQUARE_APP_SECRET=sq0csp-%{u:43}"],
        quiet: &["sq0csp-%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "shopify-access-token",
        description: "Shopify admin, custom or private app access token",
        keywords: &["shpat_", "shpca_", "shppa_"],
        pattern: r"\b(shp(?:at|ca|pa)_[a-fA-F0-9]{32})\b",
        matches: &["SHOPIFY_ACCESS_TOKEN=shpat_%{h:32}", "X-Shopify-Access-Token: shppa_%{h:32}"],
        quiet: &["shpat_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "shopify-shared-secret",
        description: "Shopify app shared secret",
        keywords: &["shpss_"],
        pattern: r"\b(shpss_[a-fA-F0-9]{32})\b",
        matches: &["SHOPIFY_API_SECRET=shpss_%{h:32}"],
        quiet: &["shpss_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "flutterwave-secret-key",
        description: "Flutterwave secret key",
        keywords: &["FLWSECK"],
        pattern: r"\b(FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)\b",
        matches: &["FLW_SECRET_KEY=FLWSECK_TEST-%{h:32}-X"],
        quiet: &["FLWPUBK_TEST-%{h:32}-X", "FLWSECK-%{h:8}-X"],
        ..EXACT
    },
    Rule {
        id: "plaid-access-token",
        description: "Plaid access token",
        keywords: &["access-sandbox-", "access-development-", "access-production-"],
        pattern: concat!(
            r"\b(access-(?:sandbox|development|production)-",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            r")\b"
        ),
        matches: &["PLAID_ACCESS_TOKEN=access-production-%{uuid}"],
        quiet: &["access-production-%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "plaid-secret",
        description: "Plaid API secret",
        keywords: &["plaid"],
        pattern: keyed!("plaid", "[a-f0-9]{30}"),
        matches: &["PLAID_SECRET=%{h:30}"],
        quiet: &["PLAID_ENV=sandbox", "PLAID_SECRET=%{h:12}"],
        ..KEYED
    },
    Rule {
        id: "easypost-api-key",
        description: "EasyPost production or test API key",
        keywords: &["EZAK", "EZTK"],
        pattern: r"\b(EZ[AT]K[a-zA-Z0-9]{54})\b",
        entropy: Some(3.5),
        matches: &["EASYPOST_API_KEY=EZAK%{A:54}"],
        quiet: &["EZAK%{A:10}"],
        ..EXACT
    },
    Rule {
        id: "duffel-token",
        description: "Duffel API access token",
        keywords: &["duffel_test_", "duffel_live_"],
        pattern: concat!(r"\b(duffel_(?:test|live)_[A-Za-z0-9_=\-]{43})", tail!()),
        entropy: Some(3.5),
        matches: &["DUFFEL_ACCESS_TOKEN=duffel_live_%{u:43}"],
        quiet: &["duffel_live_%{u:8}"],
        ..EXACT
    },
    Rule {
        id: "gocardless-token",
        description: "GoCardless access token",
        keywords: &["gocardless"],
        pattern: keyed!("gocardless", r"(?:live|sandbox)_[A-Za-z0-9_=\-]{40}"),
        entropy: Some(3.5),
        matches: &["GOCARDLESS_ACCESS_TOKEN=live_%{u:40}"],
        quiet: &["GOCARDLESS_ENVIRONMENT=live", "gocardless_token: live_%{u:8}"],
        ..KEYED
    },
    Rule {
        id: "razorpay-key-secret",
        description: "Razorpay key secret",
        keywords: &["razorpay"],
        pattern: keyed!("razorpay", "[A-Za-z0-9]{24}"),
        entropy: Some(3.5),
        matches: &["RAZORPAY_KEY_SECRET=%{A:24}"],
        quiet: &["RAZORPAY_KEY_ID=rzp_live_%{A:6}", "razorpay_secret = config.get(\"razorpay\")"],
        ..KEYED
    },
    Rule {
        id: "mollie-api-key",
        description: "Mollie API key",
        keywords: &["mollie"],
        pattern: keyed!("mollie", "(?:live|test)_[A-Za-z0-9]{30}"),
        entropy: Some(3.5),
        matches: &["MOLLIE_API_KEY=live_%{A:30}"],
        quiet: &["MOLLIE_PROFILE=pfl_%{A:10}"],
        ..KEYED
    },
    Rule {
        id: "shippo-api-token",
        description: "Shippo API token",
        keywords: &["shippo_live_", "shippo_test_"],
        pattern: r"\b(shippo_(?:live|test)_[a-f0-9]{40})\b",
        matches: &["SHIPPO_API_TOKEN=shippo_live_%{h:40}"],
        quiet: &["shippo_live_%{h:8}"],
        ..EXACT
    },
    Rule {
        id: "coinbase-api-secret",
        description: "Coinbase / CDP API secret",
        keywords: &["coinbase", "cdp_api"],
        pattern: keyed!(r"coinbase|cdp_api", r"[A-Za-z0-9+/]{86}=="),
        entropy: Some(4.0),
        matches: &["COINBASE_API_SECRET=%{b:86}=="],
        quiet: &["COINBASE_API_KEY_NAME=organizations/acme/apiKeys/1"],
        ..KEYED
    },
];
