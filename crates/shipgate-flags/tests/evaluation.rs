//! flagd's evaluation semantics as table tests (re-expressed from the cases of flagd's test
//! corpus: targeting with `==`, `in`, `starts_with`, `ends_with`, `sem_ver` with `^` and `~`,
//! `fractional`, nested `if`, a missing targeting key), the rollout distribution, and the OFREP
//! bodies validated against the protocol's schema.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shipgate_flags::ofrep::{self, Bulk, Evaluation};
use shipgate_flags::{ErrorCode, Flag, FlagSet, Reason, Setting};

const NOW: i64 = 1_780_000_000;

fn flag(value: Value) -> Flag {
    serde_json::from_value(value).expect("a flag")
}

fn set(flags: &[(&str, Value)]) -> FlagSet {
    FlagSet::new(
        flags.iter().map(|(name, value)| ((*name).to_owned(), flag(value.clone()))).collect::<BTreeMap<_, _>>(),
    )
    .expect("valid flags")
}

fn colors(targeting: Value) -> Value {
    json!({
        "variants": {"red": "#FF0000", "blue": "#0000FF", "green": "#00FF00", "yellow": "#FFFF00"},
        "default": "red",
        "targeting": targeting,
    })
}

/// (name, targeting, context, expected variant, expected reason)
type Case = (&'static str, Value, Value, &'static str, Reason);

#[test]
fn targeting_follows_flagd() {
    use Reason::*;
    let cases: Vec<Case> = vec![
        (
            "== matches",
            json!({"if": [{"==": [{"var": "email"}, "ada@example.com"]}, "blue", null]}),
            json!({"email": "ada@example.com"}),
            "blue",
            TargetingMatch,
        ),
        (
            "== does not match",
            json!({"if": [{"==": [{"var": "email"}, "ada@example.com"]}, "blue", null]}),
            json!({"email": "bob@example.com"}),
            "red",
            Default,
        ),
        (
            "== with a missing field",
            json!({"if": [{"==": [{"var": "email"}, "ada@example.com"]}, "blue", null]}),
            json!({}),
            "red",
            Default,
        ),
        (
            "in a string",
            json!({"if": [{"in": ["@faas.com", {"var": "email"}]}, "green", "yellow"]}),
            json!({"email": "x@faas.com"}),
            "green",
            TargetingMatch,
        ),
        (
            "not in a string",
            json!({"if": [{"in": ["@faas.com", {"var": "email"}]}, "green", "yellow"]}),
            json!({"email": "x@other.com"}),
            "yellow",
            TargetingMatch,
        ),
        (
            "in a list",
            json!({"if": [{"in": [{"var": "locale"}, ["de", "fr"]]}, "blue", null]}),
            json!({"locale": "fr"}),
            "blue",
            TargetingMatch,
        ),
        (
            "not in a list",
            json!({"if": [{"in": [{"var": "locale"}, ["de", "fr"]]}, "blue", null]}),
            json!({"locale": "en"}),
            "red",
            Default,
        ),
        (
            "starts_with",
            json!({"if": [{"starts_with": [{"var": "id"}, "abc"]}, "blue", null]}),
            json!({"id": "abcdef"}),
            "blue",
            TargetingMatch,
        ),
        (
            "starts_with negative",
            json!({"if": [{"starts_with": [{"var": "id"}, "abc"]}, "blue", null]}),
            json!({"id": "xabc"}),
            "red",
            Default,
        ),
        (
            "starts_with a number is false",
            json!({"if": [{"starts_with": [{"var": "id"}, 3]}, "blue", null]}),
            json!({"id": "3"}),
            "red",
            Default,
        ),
        (
            "ends_with",
            json!({"if": [{"ends_with": [{"var": "id"}, "xyz"]}, "green", null]}),
            json!({"id": "abcxyz"}),
            "green",
            TargetingMatch,
        ),
        (
            "ends_with negative",
            json!({"if": [{"ends_with": [{"var": "id"}, "xyz"]}, "green", null]}),
            json!({"id": "xyzabc"}),
            "red",
            Default,
        ),
        (
            "sem_ver =",
            json!({"if": [{"sem_ver": [{"var": "version"}, "=", "1.0.0"]}, "blue", null]}),
            json!({"version": "1.0.0"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver = with v and a partial version",
            json!({"if": [{"sem_ver": [{"var": "version"}, "=", "1.0"]}, "blue", null]}),
            json!({"version": "v1.0.0"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver !=",
            json!({"if": [{"sem_ver": [{"var": "version"}, "!=", "1.0.0"]}, "blue", null]}),
            json!({"version": "1.0.0"}),
            "red",
            Default,
        ),
        (
            "sem_ver <",
            json!({"if": [{"sem_ver": [{"var": "version"}, "<", "1.2.0"]}, "blue", null]}),
            json!({"version": "1.1.9"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver < prerelease",
            json!({"if": [{"sem_ver": [{"var": "version"}, "<", "1.2.0"]}, "blue", null]}),
            json!({"version": "1.2.0-rc.1"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver >= negative",
            json!({"if": [{"sem_ver": [{"var": "version"}, ">=", "2.0.0"]}, "blue", null]}),
            json!({"version": "1.9.9"}),
            "red",
            Default,
        ),
        (
            "sem_ver > ",
            json!({"if": [{"sem_ver": [{"var": "version"}, ">", "2.0.0"]}, "blue", null]}),
            json!({"version": "2.0.1"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver ^ same major",
            json!({"if": [{"sem_ver": [{"var": "version"}, "^", "1.0.0"]}, "blue", null]}),
            json!({"version": "1.5.3"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver ^ other major",
            json!({"if": [{"sem_ver": [{"var": "version"}, "^", "1.0.0"]}, "blue", null]}),
            json!({"version": "2.0.0"}),
            "red",
            Default,
        ),
        (
            "sem_ver ~ same minor",
            json!({"if": [{"sem_ver": [{"var": "version"}, "~", "1.2.0"]}, "blue", null]}),
            json!({"version": "1.2.7"}),
            "blue",
            TargetingMatch,
        ),
        (
            "sem_ver ~ other minor",
            json!({"if": [{"sem_ver": [{"var": "version"}, "~", "1.2.0"]}, "blue", null]}),
            json!({"version": "1.3.0"}),
            "red",
            Default,
        ),
        (
            "sem_ver with a bad version",
            json!({"if": [{"sem_ver": [{"var": "version"}, "=", "1.0.0"]}, "blue", null]}),
            json!({"version": "one"}),
            "red",
            Default,
        ),
        (
            "nested if",
            json!({"if": [{"==": [{"var": "tier"}, "gold"]}, "yellow", {"if": [{"ends_with": [{"var": "email"}, "@faas.com"]}, "green", null]}]}),
            json!({"tier": "silver", "email": "a@faas.com"}),
            "green",
            TargetingMatch,
        ),
        (
            "nested if, first branch",
            json!({"if": [{"==": [{"var": "tier"}, "gold"]}, "yellow", {"if": [{"ends_with": [{"var": "email"}, "@faas.com"]}, "green", null]}]}),
            json!({"tier": "gold"}),
            "yellow",
            TargetingMatch,
        ),
        (
            "nested if, nothing",
            json!({"if": [{"==": [{"var": "tier"}, "gold"]}, "yellow", {"if": [{"ends_with": [{"var": "email"}, "@faas.com"]}, "green", null]}]}),
            json!({"tier": "bronze"}),
            "red",
            Default,
        ),
        (
            "the flag key is in $flagd",
            json!({"if": [{"==": [{"var": "$flagd.flagKey"}, "color"]}, "blue", null]}),
            json!({}),
            "blue",
            TargetingMatch,
        ),
        (
            "the time is in $flagd",
            json!({"if": [{">": [{"var": "$flagd.timestamp"}, 1_700_000_000]}, "blue", null]}),
            json!({}),
            "blue",
            TargetingMatch,
        ),
        (
            "the caller cannot spoof $flagd",
            json!({"if": [{"==": [{"var": "$flagd.flagKey"}, "other"]}, "blue", null]}),
            json!({"$flagd": {"flagKey": "other"}}),
            "red",
            Default,
        ),
        (
            "fractional without a targeting key",
            json!({"fractional": [["red", 50], ["blue", 50]]}),
            json!({}),
            "red",
            Default,
        ),
        (
            "fractional with an empty targeting key",
            json!({"fractional": [["red", 50], ["blue", 50]]}),
            json!({"targetingKey": ""}),
            "red",
            Default,
        ),
        (
            "fractional with one bucket",
            json!({"fractional": [["green", 100]]}),
            json!({"targetingKey": "anyone"}),
            "green",
            TargetingMatch,
        ),
        (
            "fractional by a context field",
            json!({"fractional": [{"var": "email"}, ["yellow", 100], ["blue", 0]]}),
            json!({"email": "x@y.z"}),
            "yellow",
            TargetingMatch,
        ),
    ];
    for (name, targeting, context, variant, reason) in cases {
        let flags = set(&[("color", colors(targeting))]);
        let resolution = flags.evaluate("color", &context, None, NOW).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!((resolution.variant.as_str(), resolution.reason), (variant, reason), "{name}");
        assert_eq!(resolution.value, flags.get("color").expect("declared").variants[variant], "{name}");
    }
}

#[test]
fn static_flags_and_boolean_targeting() {
    let flags = set(&[
        ("plain", json!({"variants": {"on": true, "off": false}, "default": "off"})),
        ("empty-targeting", json!({"variants": {"on": true, "off": false}, "default": "on", "targeting": {}})),
        (
            "boolean-result",
            json!({"variants": {"true": 1, "false": 0}, "default": "false", "targeting": {"==": [{"var": "beta"}, true]}}),
        ),
    ]);
    let static_ = flags.evaluate("plain", &json!({}), None, NOW).expect("evaluates");
    assert_eq!(
        (static_.variant.as_str(), static_.value.clone(), static_.reason),
        ("off", json!(false), Reason::Static)
    );
    let empty = flags.evaluate("empty-targeting", &json!({}), None, NOW).expect("evaluates");
    assert_eq!((empty.variant.as_str(), empty.reason), ("on", Reason::Static));
    let beta = flags.evaluate("boolean-result", &json!({"beta": true}), None, NOW).expect("evaluates");
    assert_eq!((beta.variant.as_str(), beta.value.clone(), beta.reason), ("true", json!(1), Reason::TargetingMatch));
}

#[test]
fn errors_have_ofrep_codes() {
    let flags = set(&[
        ("plain", json!({"variants": {"on": true, "off": false}, "default": "off"})),
        (
            "bad-variant",
            json!({"variants": {"on": true, "off": false}, "default": "off", "targeting": {"if": [true, "maybe", null]}}),
        ),
        (
            "number-result",
            json!({"variants": {"on": true, "off": false}, "default": "off", "targeting": {"+": [1, 2]}}),
        ),
    ]);
    let cases: &[(&str, Value, Option<Setting>, ErrorCode)] = &[
        ("missing", json!({}), None, ErrorCode::FlagNotFound),
        ("plain", json!("a string"), None, ErrorCode::InvalidContext),
        ("plain", json!({"targetingKey": 42}), None, ErrorCode::InvalidContext),
        ("bad-variant", json!({}), None, ErrorCode::General),
        ("number-result", json!({}), None, ErrorCode::General),
        (
            "plain",
            json!({}),
            Some(Setting::Rollout { variant: "on".into(), basis_points: 1000 }),
            ErrorCode::TargetingKeyMissing,
        ),
    ];
    for (key, context, setting, code) in cases {
        let error = flags.evaluate(key, context, setting.as_ref(), NOW).expect_err("fails");
        assert_eq!(error.code, *code, "{key} {context}: {error}");
    }
}

#[test]
fn settings_change_the_answer() {
    let flags = set(&[(
        "checkout",
        json!({"variants": {"on": true, "off": false}, "default": "on", "targeting": {"if": [{"==": [{"var": "plan"}, "free"]}, "off", null]}}),
    )]);
    let user = json!({"targetingKey": "user-1", "plan": "pro"});
    let killed = flags.evaluate("checkout", &user, Some(&Setting::Killed), NOW).expect("evaluates");
    assert_eq!((killed.variant.as_str(), killed.value.clone(), killed.reason), ("off", json!(false), Reason::Disabled));
    let forced = flags
        .evaluate("checkout", &json!({"plan": "free"}), Some(&Setting::Variant { variant: "on".into() }), NOW)
        .expect("evaluates");
    assert_eq!((forced.variant.as_str(), forced.reason), ("on", Reason::Static));
    let everyone = Setting::Rollout { variant: "off".into(), basis_points: 10_000 };
    let split = flags.evaluate("checkout", &user, Some(&everyone), NOW).expect("evaluates");
    assert_eq!((split.variant.as_str(), split.reason), ("off", Reason::Split));
    let nobody = Setting::Rollout { variant: "off".into(), basis_points: 0 };
    let declared = flags.evaluate("checkout", &user, Some(&nobody), NOW).expect("evaluates");
    assert_eq!((declared.variant.as_str(), declared.reason), ("on", Reason::Default));
    let stale = Setting::Variant { variant: "gone".into() };
    let ignored = flags.evaluate("checkout", &user, Some(&stale), NOW).expect("evaluates");
    assert_eq!(ignored.variant, "on");
}

/// flagd's fractional bucket of `flagKey + targetingKey`, computed with an independent murmur3.
fn flagd_bucket(flag_key: &str, targeting_key: &str, total_weight: u64) -> u64 {
    let bytes = format!("{flag_key}{targeting_key}");
    let hash = murmur3::murmur3_32(&mut std::io::Cursor::new(bytes.as_bytes()), 0).expect("in memory");
    (u64::from(hash) * total_weight) >> 32
}

#[test]
fn fractional_uses_murmur3_of_flag_key_and_targeting_key() {
    let flags =
        set(&[("color", colors(json!({"fractional": [["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]]})))]);
    let names = ["red", "blue", "green", "yellow"];
    for index in 0..2_000 {
        let key = format!("user-{index}");
        let resolution = flags.evaluate("color", &json!({"targetingKey": key}), None, NOW).expect("evaluates");
        let expected = names[(flagd_bucket("color", &key, 100) / 25) as usize];
        assert_eq!(resolution.variant, expected, "{key}");
    }
}

#[test]
fn rollout_distribution_is_within_one_point_over_100000_keys_and_stable() {
    let declaration = json!({"variants": {"on": true, "off": false}, "default": "off"});
    for basis_points in [100, 1000, 2500, 5000, 9000] {
        let setting = Setting::Rollout { variant: "on".into(), basis_points };
        let flags = set(&[("new-checkout", declaration.clone())]);
        let mut on = 0u32;
        for index in 0..100_000 {
            let context = json!({"targetingKey": format!("user-{index}")});
            let resolution = flags.evaluate("new-checkout", &context, Some(&setting), NOW).expect("evaluates");
            if resolution.variant == "on" {
                on += 1;
            }
        }
        let share = f64::from(on) / 1000.0;
        let target = f64::from(basis_points) / 100.0;
        assert!((share - target).abs() <= 1.0, "{target}% rollout gave {share}%");
    }
    // Stable across restarts: a freshly compiled set (as after a server restart) gives every key
    // the bucket the murmur3 formula gives it, and raising the percentage only adds keys.
    let ten = Setting::Rollout { variant: "on".into(), basis_points: 1000 };
    let twenty = Setting::Rollout { variant: "on".into(), basis_points: 2000 };
    let first = set(&[("new-checkout", declaration.clone())]);
    let second = set(&[("new-checkout", declaration)]);
    for index in 0..20_000 {
        let key = format!("user-{index}");
        let context = json!({"targetingKey": key});
        let a = first.evaluate("new-checkout", &context, Some(&ten), NOW).expect("evaluates");
        let b = second.evaluate("new-checkout", &context, Some(&ten), NOW + 86_400).expect("evaluates");
        assert_eq!(a, b, "{key}");
        assert_eq!(a.variant == "on", flagd_bucket("new-checkout", &key, 10_000) < 1000, "{key}");
        let wider = second.evaluate("new-checkout", &context, Some(&twenty), NOW).expect("evaluates");
        if a.variant == "on" {
            assert_eq!(wider.variant, "on", "{key} left the rollout when it grew");
        }
    }
}

/// Declared `fractional` targeting (not a rollout setting) over 100,000 keys: each variant's share
/// is within one percentage point of its weight, for uneven and even weights.
#[test]
fn declared_fractional_distribution_is_within_one_point_over_100000_keys() {
    let cases: &[&[(&str, u32)]] = &[
        &[("red", 30), ("blue", 70)],
        &[("red", 25), ("blue", 25), ("green", 25), ("yellow", 25)],
        &[("red", 5), ("blue", 95)],
    ];
    for weights in cases {
        let buckets: Vec<Value> = weights.iter().map(|(name, weight)| json!([name, weight])).collect();
        let flags = set(&[("color", colors(json!({"fractional": buckets})))]);
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for index in 0..100_000 {
            let context = json!({"targetingKey": format!("user-{index}")});
            let resolution = flags.evaluate("color", &context, None, NOW).expect("evaluates");
            assert_eq!(resolution.reason, Reason::TargetingMatch);
            *counts.entry(resolution.variant).or_default() += 1;
        }
        let total: u32 = weights.iter().map(|(_, weight)| weight).sum();
        for (name, weight) in *weights {
            let share = f64::from(counts.get(*name).copied().unwrap_or(0)) / 1000.0;
            let target = f64::from(*weight) * 100.0 / f64::from(total);
            assert!((share - target).abs() <= 1.0, "{weights:?}: `{name}` got {share}% of 100,000 keys, not {target}%");
        }
    }
}

fn validator(definition: &str) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(ofrep::SCHEMA).expect("the schema is JSON");
    schema["$ref"] = json!(format!("#/$defs/{definition}"));
    jsonschema::validator_for(&schema).expect("a valid schema")
}

#[test]
fn ofrep_bodies_follow_the_protocol_schema() {
    let flags = set(&[
        ("boolean", json!({"variants": {"on": true, "off": false}, "default": "off"})),
        (
            "text",
            json!({"variants": {"a": "x", "b": "y"}, "default": "a", "targeting": {"if": [{"==": [{"var": "k"}, 1]}, "b", null]}}),
        ),
        ("integer", json!({"variants": {"small": 1, "large": 1000}, "default": "large"})),
        ("float", json!({"variants": {"low": 0.1, "high": 0.9}, "default": "low"})),
        ("object", json!({"variants": {"v1": {"limit": 3}, "v2": {"limit": 5}}, "default": "v2"})),
        ("broken", json!({"variants": {"on": true}, "default": "on", "targeting": {"if": [true, "nope", null]}})),
    ]);
    let success = validator("serverEvaluationSuccess");
    let failure = validator("evaluationFailure");
    let not_found = validator("flagNotFound");
    let context = json!({"targetingKey": "t", "k": 1});
    for key in flags.names() {
        let evaluation = Evaluation::from(flags.evaluate(key, &context, None, NOW));
        let body = serde_json::to_value(&evaluation).expect("serializes");
        match key {
            "broken" => assert!(failure.is_valid(&body) && evaluation.status() == 400, "{body}"),
            _ => {
                assert!(success.is_valid(&body) && evaluation.status() == 200, "{body}: {:?}", success.validate(&body))
            }
        }
    }
    let missing = Evaluation::from(flags.evaluate("missing", &context, None, NOW));
    let body = serde_json::to_value(&missing).expect("serializes");
    assert!(not_found.is_valid(&body) && missing.status() == 404, "{body}");
    assert!(!failure.is_valid(&body), "FLAG_NOT_FOUND is not an evaluationFailure code");

    let bulk = Bulk {
        flags: flags.names().map(|key| Evaluation::from(flags.evaluate(key, &context, None, NOW))).collect(),
        metadata: Default::default(),
    };
    let body = serde_json::to_value(&bulk).expect("serializes");
    let bulk_validator = validator("bulkEvaluationSuccess");
    assert!(bulk_validator.is_valid(&body), "{body}");
    // The schema has teeth where the protocol does: a success without a value, a value of no
    // flag type, an unknown error code or a failure without its key is refused. (`reason` is
    // open: the protocol gives examples, not a list.)
    let good =
        serde_json::to_value(Evaluation::from(flags.evaluate("boolean", &context, None, NOW))).expect("serializes");
    let mut without_value = good.clone();
    without_value.as_object_mut().expect("an object").remove("value");
    assert!(!success.is_valid(&without_value), "{without_value}");
    let mut list_value = good.clone();
    list_value["value"] = json!([true]);
    assert!(!success.is_valid(&list_value), "{list_value}");
    let mut other_reason = good;
    other_reason["reason"] = json!("CACHED");
    assert!(success.is_valid(&other_reason), "{other_reason}");
    assert!(!failure.is_valid(&json!({"key": "f", "errorCode": "FLAG_BROKEN"})));
    assert!(!failure.is_valid(&json!({"errorCode": "GENERAL"})));
    let bulk_failure = serde_json::to_value(ofrep::BulkFailure {
        error_code: ErrorCode::InvalidContext,
        error_details: "bad body".into(),
    })
    .expect("serializes");
    assert!(validator("bulkEvaluationFailure").is_valid(&bulk_failure), "{bulk_failure}");
    let error = serde_json::to_value(ofrep::GeneralError { error_details: "bad body".into() }).expect("serializes");
    assert!(validator("generalErrorResponse").is_valid(&error));
}

#[test]
fn etags_follow_the_body() {
    let a = ofrep::etag(br#"{"flags":[]}"#);
    assert_eq!(a, ofrep::etag(br#"{"flags":[]}"#));
    assert_ne!(a, ofrep::etag(br#"{"flags":[{}]}"#));
    assert!(a.starts_with('"') && a.ends_with('"'));
    assert!(ofrep::matches(&a, &a));
    assert!(ofrep::matches(&format!("W/{a}, \"other\""), &a));
    assert!(ofrep::matches("*", &a));
    assert!(!ofrep::matches("\"other\"", &a));
}
