"""The dashboard benchmark's turns (run by ./run, which builds and prepares the input).

    measure.py HOST WORK RUNS POLL_MS

Runs HOST on WORK/pipeline.json RUNS times in each of three ways, in turns — none (no
--http), idle (--http, nobody asking), open (--http and a dashboard's client) — and prints
each run, the medians and the ratios. Only the standard library: it runs with the system's
python3.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

VARIANTS = ("none", "idle", "open")


class Client:
    """What an open dashboard tab asks of a running host: the event stream, held from the
    moment the host listens to the moment it stops, and a poll of the pages' reads."""

    def __init__(self, address, poll_seconds, alive):
        self.alive = alive  # a refused connection once the host is gone is no failure
        self.base = "http://" + address
        self.address = address
        self.poll_seconds = poll_seconds
        self.stopped = threading.Event()
        self.requests = 0
        self.failed = []
        self.events = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.poll, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                body = answer.read()
                with self.lock:
                    self.requests += 1
                return body
        except urllib.error.HTTPError as error:
            body = error.read()
            with self.lock:
                self.requests += 1
                # In the run's first milliseconds its history is being made: "no history
                # yet" (404) is the answer a page gets then too, not a failure.
                if not (error.code == 404 and b"no history yet" in body):
                    self.failed.append(f"{path}: {error.code} {body[:200]!r}")
            return None
        except (urllib.error.URLError, OSError) as error:
            with self.lock:
                self.requests += 1
                if self.alive():
                    self.failed.append(f"{path}: {error}")
            return None

    def stream(self, pipeline):
        host, port = self.address.rsplit(":", 1)
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("GET", f"/api/v1/events?pipeline={pipeline}", headers={"Accept": "text/event-stream"})
            answer = connection.getresponse()
            if answer.status != 200:
                self.failed.append(f"events: {answer.status}")
                return
            for line in answer:
                if line.startswith(b"event:"):
                    with self.lock:
                        self.events += 1
        except (OSError, http.client.HTTPException) as error:
            if self.alive():
                with self.lock:
                    self.failed.append(f"events: {error}")

    def poll(self):
        listing = self.get("/api/v1/pipelines")
        if listing is None:
            return
        pipeline = json.loads(listing)["pipelines"][0]["id"]
        threading.Thread(target=self.stream, args=(pipeline,), daemon=True).start()
        p = f"/api/v1/pipelines/{pipeline}"
        self.get(p + "/graph")
        while not self.stopped.is_set():
            for path in ("/status", "/batches?limit=120", "/alerts?limit=50", "/incidents", "/runs?limit=50"):
                if self.stopped.is_set():
                    break
                self.get(p + path)
            self.stopped.wait(self.poll_seconds)

    def stop(self):
        self.stopped.set()


def running(pid):
    """Whether the process still runs (not reaped, not a zombie), without reaping it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_once(host, work, variant, poll_seconds):
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, SLUICE_OUT=out)
    env.pop("SLUICE_PLUGIN_PATH", None)
    args = [host, "run", os.path.join(work, "pipeline.json"), "--progress", "none",
            "--summary-json", os.path.join(work, "summary.json")]
    if variant != "none":
        args += ["--http", "127.0.0.1:0"]
    err_path = os.path.join(work, f"{variant}.stderr")
    client = None
    with open(err_path, "wb") as err:
        start = time.monotonic()
        child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)

        def drain():
            nonlocal client
            for line in child.stderr:
                err.write(line)
                if variant == "open" and client is None and line.startswith(b"http: listening on "):
                    client = Client(line.split()[-1].decode(), poll_seconds, lambda: running(child.pid))
                    client.start()
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        _, status, usage = os.wait4(child.pid, 0)  # the host's own CPU time, not the client's
        wall = time.monotonic() - start
        reader.join()
    if client is not None:
        client.stop()
    status = os.waitstatus_to_exitcode(status)
    if status != 0:
        sys.exit(f"dashboard-bench: {variant} failed (exit {status}):\n" + open(err_path, errors="replace").read()[-3000:])
    if variant == "open" and client is None:
        sys.exit(f"dashboard-bench: open: the host never said where it listens:\n" + open(err_path, errors="replace").read()[-3000:])
    summary = json.load(open(os.path.join(work, "summary.json")))
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "batches": summary["batches"],
            "records": summary["records"], "client": client}


def main():
    host, work, runs, poll_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    results = {v: [] for v in VARIANTS}
    for turn in range(1, runs + 1):
        for variant in VARIANTS:
            r = run_once(host, work, variant, poll_ms / 1000)
            results[variant].append(r)
            line = f"turn {turn} {variant:<5} wall {r['wall']:.3f} s  cpu {r['cpu']:.3f} s  {r['batches']} batches  {r['records']:,} records"
            c = r["client"]
            if c is not None:
                line += f"  client: {c.requests} requests, {c.events} events, {len(c.failed)} failed"
                for f in c.failed[:3]:
                    line += f"\n    failed: {f}"
            print(line, flush=True)
    print()
    median = {v: {k: statistics.median(r[k] for r in results[v]) for k in ("wall", "cpu")} for v in VARIANTS}
    for v in VARIANTS:
        walls = [r["wall"] for r in results[v]]
        print(f"{v:<5} wall median {median[v]['wall']:.3f} s ({min(walls):.3f}–{max(walls):.3f})  cpu median {median[v]['cpu']:.3f} s")
    for a, b in (("open", "none"), ("idle", "none"), ("open", "idle")):
        per_turn = [x["wall"] / y["wall"] for x, y in zip(results[a], results[b])]
        print(f"{a} ÷ {b}: wall {median[a]['wall'] / median[b]['wall']:.3f}× (per turn {min(per_turn):.2f}–{max(per_turn):.2f}×)"
              f"  cpu {median[a]['cpu'] / median[b]['cpu']:.3f}×")
    ratio = median["open"]["wall"] / median["none"]["wall"]
    print(f"the bar (open ÷ none ≤ 1.03): {'met' if ratio <= 1.03 else 'NOT met'} ({ratio:.3f}×)")
    failed = sum(len(r["client"].failed) for r in results["open"])
    if failed:
        sys.exit(f"dashboard-bench: the client's requests failed {failed} times (above): the open runs measured no dashboard")


if __name__ == "__main__":
    main()
