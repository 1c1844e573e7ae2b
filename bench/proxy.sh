#!/usr/bin/env bash
# Proxy benchmark: nginx `return 200` as the backend; wrk against the backend directly, through
# an nginx reverse proxy, and through `shipgate agent`, in interleaved rounds.
#
#   bench/proxy.sh                    # 5 rounds of 10 s per target and connection count
#   ROUNDS=3 DURATION=5 bench/proxy.sh
#   PERF_OUT=/tmp/agent.perf bench/proxy.sh   # also `perf record` the agent in the last round
#
# Needs nginx, wrk, taskset and python3 (Debian: `apt-get update && apt-get install -y nginx wrk`)
# and at least 2 CPUs. Both proxies run pinned to the same single CPU (PROXY_CPU, default 1);
# wrk and the backend nginx share another (LOAD_CPU, default 0). The backend is the agent's
# instance: the agent starts it (port 18090 from a one-port range), so all three paths hit the
# same nginx. Also reports the agent's RSS with 1,000 idle keep-alive connections open.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"32 256"}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BACKEND_PORT=18090 NGINX_PROXY_PORT=18081 SHIPGATE_PORT=18082

missing=()
for tool in nginx wrk taskset python3 curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "error: missing ${missing[*]}" >&2
    echo "hint: apt-get update && apt-get install -y nginx wrk util-linux python3 curl" >&2
    exit 1
fi
if (($(nproc) < 2)); then
    echo "error: needs 2 CPUs (the proxies on one, wrk and the backend on another)" >&2
    exit 1
fi

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [[ -z ${SHIPGATE_BIN:-} ]]; then
    (cd "$root" && cargo build --release -q -p shipgate)
    SHIPGATE_BIN=$target/release/shipgate
fi
ulimit -n 65536 2>/dev/null || ulimit -n 4096

work=$(mktemp -d)
agent_pid=""
cleanup() {
    [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    [[ -f $work/proxy.pid ]] && kill "$(cat "$work/proxy.pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

nginx_conf() { # $1: name, $2: server block
    mkdir -p "$work/$1"
    cat >"$work/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/$1.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $work/$1; proxy_temp_path $work/$1; fastcgi_temp_path $work/$1;
    uwsgi_temp_path $work/$1; scgi_temp_path $work/$1;
    $2
}
CONF
}

nginx_conf backend "server { listen 127.0.0.1:$BACKEND_PORT; location / { return 200 'ok\n'; } }"
nginx_conf proxy "upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 512; }
    server { listen 127.0.0.1:$NGINX_PROXY_PORT; location / {
        proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"

# The nginx reverse proxy, on the proxy CPU.
taskset -c "$PROXY_CPU" nginx -p "$work/proxy" -c "$work/proxy/nginx.conf" &
echo $! >"$work/proxy.pid"

# The agent, on the proxy CPU; its one instance is the backend nginx, moved to the load CPU.
state=$work/agent
SHIPGATE_LOG=warn taskset -c "$PROXY_CPU" "$SHIPGATE_BIN" agent --state-dir "$state" \
    --port-range "$BACKEND_PORT-$BACKEND_PORT" --stop-instances-on-exit 2>"$work/agent.log" &
agent_pid=$!
control() { curl -sf --unix-socket "$state/control.sock" -X "$1" "http://agent$2" ${3:+-d "$3"}; }
for _ in $(seq 100); do [[ -S $state/control.sock ]] && break; sleep 0.05; done
control PUT /v1/services/bench "{\"listen\":\"127.0.0.1:$SHIPGATE_PORT\",\"versions\":[{\"name\":\"v1\",\"weight\":1}],
    \"health\":{\"interval_ms\":200}}" >/dev/null
control POST /v1/instances "{\"service\":\"bench\",\"version\":\"v1\",\"artifact_dir\":\"$work/backend\",
    \"command\":[\"taskset\",\"-c\",\"$LOAD_CPU\",\"nginx\",\"-p\",\"$work/backend\",\"-c\",\"$work/backend/nginx.conf\"]}" >/dev/null
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$SHIPGATE_PORT/" >/dev/null && curl -sf "http://127.0.0.1:$NGINX_PROXY_PORT/" >/dev/null && break
    sleep 0.1
done

# CPU time (clock ticks) used so far by these processes and their children threads.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
proxy_pids() { # $1: target name
    case $1 in
        nginx) echo "$(cat "$work/proxy.pid") $(pgrep -P "$(cat "$work/proxy.pid")" | tr '\n' ' ')" ;;
        shipgate) echo "$agent_pid" ;;
    esac
}

# wrk output -> "requests/s p99_ms requests"
run_wrk() { # $1: port, $2: connections, $3: seconds
    taskset -c "$LOAD_CPU" wrk -t1 -c"$2" -d"$3"s --latency "http://127.0.0.1:$1/" | awk '
        /Requests\/sec/ { rps = $2 }
        / requests in / { total = $1 }
        $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } p99 = v }
        END { printf "%s %s %s\n", rps, p99, total }'
}

declare -A rps p99 cpu
tick_us=$((1000000 / $(getconf CLK_TCK)))
targets="direct:$BACKEND_PORT nginx:$NGINX_PROXY_PORT shipgate:$SHIPGATE_PORT"
for c in $CONNECTIONS; do run_wrk "$SHIPGATE_PORT" "$c" 2 >/dev/null; run_wrk "$NGINX_PROXY_PORT" "$c" 2 >/dev/null; done
for round in $(seq "$ROUNDS"); do
    for c in $CONNECTIONS; do
        for t in $targets; do
            name=${t%%:*} port=${t##*:}
            pids=$(proxy_pids "$name")
            before=$([[ -n $pids ]] && cpu_ticks $pids || echo 0)
            perf_pid=""
            if [[ -n ${PERF_OUT:-} && $name == shipgate && $round == "$ROUNDS" && $c == "${CONNECTIONS%% *}" ]]; then
                perf record -q -g -F 499 -e cpu-clock -p "$agent_pid" -o "$PERF_OUT" -- sleep "$DURATION" 2>/dev/null &
                perf_pid=$!
            fi
            read -r r p n < <(run_wrk "$port" "$c" "$DURATION")
            [[ -n $perf_pid ]] && wait "$perf_pid"
            after=$([[ -n $pids ]] && cpu_ticks $pids || echo 0)
            # CPU time the proxy spent per request: unlike requests/s, not skewed by other load.
            us=$(awk -v t=$((after - before)) -v n="$n" -v u="$tick_us" 'BEGIN { printf "%.1f", n ? t * u / n : 0 }')
            rps[$name,$c]+="$r " p99[$name,$c]+="$p " cpu[$name,$c]+="$us "
            echo "round $round  c=$c  $name: $r req/s  p99 $p ms  proxy CPU $us us/request" >&2
        done
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "median of $ROUNDS rounds x ${DURATION}s; proxies pinned to CPU $PROXY_CPU, wrk and backend to CPU $LOAD_CPU"
printf '%-6s %-9s %12s %10s %16s\n' conns target 'req/s' 'p99 ms' 'proxy CPU us/req'
for c in $CONNECTIONS; do
    for name in direct nginx shipgate; do
        printf '%-6s %-9s %12.0f %10.2f %16s\n' "$c" "$name" "$(echo "${rps[$name,$c]}" | median)" \
            "$(echo "${p99[$name,$c]}" | median)" "$([[ $name == direct ]] && echo - || echo "${cpu[$name,$c]}" | median)"
    done
    sr=$(echo "${rps[shipgate,$c]}" | median) nr=$(echo "${rps[nginx,$c]}" | median)
    sp=$(echo "${p99[shipgate,$c]}" | median) np=$(echo "${p99[nginx,$c]}" | median)
    awk -v c="$c" -v sr="$sr" -v nr="$nr" -v sp="$sp" -v np="$np" \
        'BEGIN { printf "%-6s shipgate/nginx: throughput %.2f (target >= 1.00), p99 %.2f (target <= 1.00)", c, sr / nr, sp / np }'
    awk -v s="$(echo "${cpu[shipgate,$c]}" | median)" -v n="$(echo "${cpu[nginx,$c]}" | median)" \
        'BEGIN { printf ", CPU per request %.2f\n", n ? s / n : 0 }'
done
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these CPUs skews req/s and p99, not CPU/request)"

# RSS with 1,000 idle keep-alive connections through the agent.
python3 "$root/bench/hold_connections.py" 127.0.0.1 "$SHIPGATE_PORT" 1000 "$agent_pid"
