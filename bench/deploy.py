#!/usr/bin/env python3
"""Deployment benchmark: a three-step canary of three `shipgate-sample` instances
(SAMPLE_STARTUP_MS=0, probes every 100 ms, zero-length holds) through a real agent and server.

    bench/deploy.py [--rounds N]          # builds with cargo --release unless SHIPGATE_BIN is set

Reports, per round and as medians, the time from the accepted `deploy` (the `created` event)
to 100% traffic (the `promote` step done) and to the end, and each step's duration, from the
server's own recorded event times.
"""

import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binaries():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if "SHIPGATE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "shipgate", "-p", "shipgate-sample"], cwd=ROOT, check=True)
    shipgate = os.environ.get("SHIPGATE_BIN", os.path.join(target, "release", "shipgate"))
    return shipgate, os.path.join(os.path.dirname(shipgate), "shipgate-sample")


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    shipgate, sample = binaries()
    work = tempfile.mkdtemp(prefix="shipgate-bench-deploy-")
    processes = []
    try:
        state = os.path.join(work, "agent")
        os.mkdir(state)
        processes.append(subprocess.Popen([shipgate, "agent", "--state-dir", state, "--stop-instances-on-exit",
                                           "--port-range", "41000-41999"], stderr=open(os.path.join(work, "agent.log"), "w")))
        while not os.path.exists(os.path.join(state, "control.sock")):
            time.sleep(0.02)
        api_port, listen = free_port(), free_port()
        env = dict(os.environ, SHIPGATE_CREDENTIALS=os.path.join(work, "credentials.json"))
        server = subprocess.Popen([shipgate, "server", "--data-dir", os.path.join(work, "data"), "--listen", f"127.0.0.1:{api_port}",
                                   "--agent-socket", os.path.join(state, "control.sock")], env=env,
                                  stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "w"), text=True)
        processes.append(server)
        server.stdout.readline()
        token = server.stdout.readline().strip()

        def call(method, path, body=None):
            request = urllib.request.Request(f"http://127.0.0.1:{api_port}{path}", method=method,
                                             data=json.dumps(body).encode() if body is not None else None,
                                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read().decode()

        for _ in range(200):
            try:
                call("GET", "/api/v1/health")
                break
            except OSError:
                time.sleep(0.05)

        def release(version):
            project = os.path.join(work, f"project-{version}")
            os.makedirs(os.path.join(project, "app"))
            shutil.copy(sample, os.path.join(project, "app", "shipgate-sample"))
            open(os.path.join(project, "app", "VERSION"), "w").write(version)
            open(os.path.join(project, "shipgate.toml"), "w").write(f"""[app]
name = "bench"
[artifact]
path = "app"
[run]
command = ["./shipgate-sample"]
env = {{ SAMPLE_VERSION = "{version}", SAMPLE_STARTUP_MS = "0" }}
drain = "0s"
stop_grace = "1s"
[run.health]
http = "/healthz"
interval = "100ms"
healthy = 1
[environments.staging]
listen = "127.0.0.1:{listen}"
replicas = 3
strategy = {{ canary = [ {{ weight = 10, hold = "0s" }}, {{ weight = 50, hold = "0s" }}, {{ weight = 90, hold = "0s" }} ] }}
""")
            subprocess.run([shipgate, "release", "create", "--version", version, "--commit", "0" * 40,
                            "--data-dir", os.path.join(work, "data")], cwd=project, check=True, capture_output=True)

        def deploy(version):
            deployment = json.loads(call("POST", "/api/v1/environments/staging/deployments", {"version": version}))
            events = [json.loads(line[5:]) for line in call("GET", f"/api/v1/deployments/{deployment['id']}/events").splitlines()
                      if line.startswith("data:")]
            return deployment, events

        release("v0")
        deploy("v0")
        rows = []
        for round_ in range(1, args.rounds + 1):
            version = f"v{round_}"
            release(version)
            deployment, events = deploy(version)
            final = events[-1]["kind"]
            assert final == "succeeded", f"round {round_}: {final}"
            created = when(events[0]["time"])
            steps = {}
            for event in events:
                if event["kind"] == "step_started":
                    steps[event["step_index"]] = [event["message"], when(event["time"]), None]
                elif event["kind"] == "step_done":
                    steps[event["step_index"]][2] = when(event["time"])
            promote = next(end for text, start, end in steps.values() if text.startswith("send all traffic"))
            rows.append({"to_full_traffic": promote - created, "total": when(events[-1]["time"]) - created,
                         "steps": [(text, end - start) for text, start, end in steps.values()]})
            print(f"round {round_}: 100% traffic after {rows[-1]['to_full_traffic']*1000:.0f} ms, done after {rows[-1]['total']*1000:.0f} ms",
                  file=sys.stderr)
        median = lambda values: statistics.median(values) * 1000
        print(f"| measure (median of {args.rounds}) | ms |")
        print("| --- | ---: |")
        print(f"| accepted `deploy` → 100% traffic | {median([row['to_full_traffic'] for row in rows]):.0f} |")
        print(f"| accepted `deploy` → succeeded | {median([row['total'] for row in rows]):.0f} |")
        for index, (text, _) in enumerate(rows[0]["steps"]):
            text = text.replace("v1", "the new version").replace("v0", "the old version")
            print(f"| step {index}: {text} | {median([row['steps'][index][1] for row in rows]):.1f} |")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
