#!/usr/bin/env bash
# Verdicts of `shipgate migrate lint` and of the squawk CLI on the labelled migration corpus
# (crates/shipgate-migrate/tests/corpus). Each case is a migrations folder, how far production
# has applied it, and whether its pending migrations are a `hazard` or `safe`.
#
# squawk judges files one at a time, so it gets the pending files of each case; it runs twice:
# with its defaults, and "tuned" the way a team using shipgate's applier would configure it
# (in a transaction; lock/statement timeouts and robustness handled by the applier).
# A tool "flags" a case when it reports an error-level finding (shipgate: a deny finding;
# squawk: any violation, since squawk exits 1 on any).
#
# Needs: a release build of shipgate (`cargo build --release -p shipgate`) and
# `pip install squawk-cli`. Prints a Markdown table and the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
shipgate="${SHIPGATE:-${CARGO_TARGET_DIR:-target}/release/shipgate}"
command -v squawk >/dev/null || { echo "error: squawk not found; pip install squawk-cli" >&2; exit 2; }
[ -x "$shipgate" ] || { echo "error: $shipgate not built; cargo build --release -p shipgate" >&2; exit 2; }
exec python3 - "$shipgate" <<'PY'
import json, os, pathlib, re, subprocess, sys

shipgate = sys.argv[1]
corpus = pathlib.Path("crates/shipgate-migrate/tests/corpus")
tuned = ["--assume-in-transaction", "--exclude", "require-lock-timeout,require-statement-timeout,prefer-robust-stmts"]

def field(text, key):
    return re.search(rf'^{key}\s*=\s*"?([^"\n]+)"?', text, re.M).group(1)

def pending_files(case, applied):
    files = []
    for path in sorted((case / "migrations").glob("*/*.up.sql")):
        if int(path.name.split("_")[0]) > applied:
            files.append(str(path))
    return files

def squawk_flags(files, extra):
    if not files:
        return False
    run = subprocess.run(["squawk", "--reporter", "json", *extra, *files], capture_output=True, text=True)
    return run.returncode != 0

def shipgate_flags(case, applied):
    args = [shipgate, "migrate", "lint", str(case / "migrations"), "--format", "json"]
    if applied:
        args += ["--applied-through", str(applied)]
    run = subprocess.run(args, capture_output=True, text=True)
    findings = json.loads(run.stdout or "[]")
    return any(f["severity"] == "deny" for f in findings)

rows, totals = [], {tool: {"caught": 0, "missed": 0, "false_alarms": 0} for tool in ("shipgate", "squawk", "squawk tuned")}
for case in sorted(p for p in corpus.iterdir() if p.is_dir()):
    text = (case / "case.toml").read_text()
    expected, applied = field(text, "expected"), int(field(text, "applied_through"))
    files = pending_files(case, applied)
    verdicts = {
        "shipgate": shipgate_flags(case, applied),
        "squawk": squawk_flags(files, []),
        "squawk tuned": squawk_flags(files, tuned),
    }
    for tool, flagged in verdicts.items():
        if expected == "hazard":
            totals[tool]["caught" if flagged else "missed"] += 1
        elif flagged:
            totals[tool]["false_alarms"] += 1
    mark = lambda flagged: "flag" if flagged else "pass"
    rows.append(f"| {case.name} | {expected} | {mark(verdicts['shipgate'])} | {mark(verdicts['squawk'])} | {mark(verdicts['squawk tuned'])} |")

hazards = sum(1 for r in rows if "| hazard |" in r)
print(f"{len(rows)} cases: {hazards} hazards, {len(rows) - hazards} safe\n")
print("| case | label | shipgate | squawk | squawk tuned |\n| --- | --- | --- | --- | --- |")
print("\n".join(rows))
print("\n| tool | hazards caught | hazards missed | false alarms on safe cases |\n| --- | --- | --- | --- |")
for tool, t in totals.items():
    print(f"| {tool} | {t['caught']}/{hazards} | {t['missed']} | {t['false_alarms']}/{len(rows) - hazards} |")
PY
