"""The dashboard in a real browser (README.md beside this file).

One followed-folder pipeline run by the real host (`.build/debug/host run … --http
127.0.0.1:0`), watched by a headless Chromium driven by Selenium through the DOM contract
of docs/dashboard.md: the graph, live counters as files are dropped into the inbox, a
stage's panel (secrets shown as [secret]), a `<script>` payload shown as text, a silence
added in the page that the command line lists and that holds back a notification, a
silence added with the command line that the page lists, no errors in the browser's log;
then `host serve` over the run's state folder. Screenshots of every page go to
.build/browser-test/out/screenshots (`--docs`: also to docs/dashboard/).

Run by ./run (which makes the virtual environment); the host must be built (.build/debug).
Every wait is on a condition, with a timeout and a message saying what did not happen.
"""

import argparse
import http.server
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST = pathlib.Path(os.environ.get("SLUICE_HOST", ROOT / ".build" / "debug" / "host"))
OUT = ROOT / ".build" / "browser-test" / "out"
SHOTS = OUT / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
STARTED = time.monotonic()

WAIT = 30  # seconds, the longest any one condition may take (a batch takes well under 1 s)
SECRET_URL_TOKEN = "hook-" + secrets.token_hex(16)
SECRET_HEADER = "Bearer sk-" + secrets.token_hex(16)
# Two payload values that would run if a page put them in as HTML (no double quotes: a page
# may show a payload as JSON, which escapes them).
XSS_SCRIPT = "<script>document.title='pwned'</script>"
XSS_IMG = "<img src=x onerror=document.title='pwned'>"
PIPELINE_ID = "dashboard-browser"

# The graph the pipeline below makes (docs/api.md: kinds; ports records|errors|alerts).
STAGES = {"events": "source", "quality": "transform", "hot": "transform", "kept": "sink",
          "rejected": "sink", "alert-log": "alertpublisher", "hook": "alertpublisher"}
EDGES = {("events", "quality", "records"), ("quality", "hot", "records"), ("hot", "kept", "records"),
         ("events", "rejected", "errors"), ("quality", "rejected", "errors"),
         ("quality", "alert-log", "alerts"), ("hot", "alert-log", "alerts"), ("hot", "hook", "alerts")}
ALERTING = {"quality", "hot"}  # QualityCheck and AlertRule: emitsAlerts in their widgets files


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def step(text):
    print(f"ok: {text} ({time.monotonic() - STARTED:.1f} s)", flush=True)


def wait_until(what, condition, seconds=WAIT):
    """Polls a condition outside the browser (a file, the API, a process) until it holds."""
    deadline = time.monotonic() + seconds
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # a request refused while starting, a file not there yet
            last_error = error
        time.sleep(0.05)
    raise Failure(f"waited {seconds} s for {what}" + (f" (last error: {last_error})" if last_error else ""))


class Receiver(http.server.ThreadingHTTPServer):
    """The Webhook publisher's destination: a real HTTP server on 127.0.0.1 keeping the bodies."""

    daemon_threads = True

    def __init__(self):
        self.lock = threading.Lock()
        self.bodies = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.bodies.append((self.path, self.headers.get("Authorization"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/{SECRET_URL_TOKEN}"


class Host:
    """One host process (run or serve) with its output in files; `stop` and `kill` end it."""

    def __init__(self, name, args, env, folder):
        self.name = name
        self.err_path = pathlib.Path(folder) / f"{name}.stderr"
        self.out_path = pathlib.Path(folder) / f"{name}.stdout"
        self.err = open(self.err_path, "w")
        self.out = open(self.out_path, "w")
        self.process = subprocess.Popen([str(HOST)] + args, env=env, stdout=self.out, stderr=self.err)
        self.address = None

    def stderr(self):
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def listening(self):
        """Waits for `http: listening on ADDR` on its standard error; returns http://ADDR."""
        def bound():
            found = re.search(r"http: listening on (\S+)", self.stderr())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise Failure(f"{self.name} exited ({self.process.returncode}) before listening")
            return None
        try:
            address = wait_until(f"{self.name} to print 'http: listening on'", bound)
        except Failure as failure:
            if self.process.poll() is not None:
                raise Failure(f"{self.name} exited ({self.process.returncode}) before listening") from failure
            raise
        self.address = "http://" + address.removeprefix("http://")
        return self.address

    def stop(self, seconds=WAIT):
        """SIGTERM, then waits for the exit; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} still running {seconds} s after SIGTERM (an open page must not hold it)")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.err.close()
        self.out.close()

    def tail(self, lines=40):
        text = [line for line in self.stderr().splitlines() if line.strip()]
        return "\n".join(text[-lines:])


def fetch(url, *, data=None, headers=None, method=None):
    """One request; returns (status, headers, body bytes) — errors too, never raises on a status."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(url):
    status, _, body = fetch(url)
    check(status == 200, f"GET {url}: {status} {body[:300]!r}")
    return json.loads(body)


def metric(base, name, labels):
    """The value of one sample of /metrics (0 when absent)."""
    _, _, body = fetch(base + "/metrics")
    for line in body.decode("utf-8").splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Test:
    def __init__(self, args):
        self.args = args
        self.folder = tempfile.TemporaryDirectory(prefix="sluice-browser-test-")
        self.dir = pathlib.Path(self.folder.name)
        self.inbox = self.dir / "inbox"
        self.inbox.mkdir()
        self.pipeline = self.dir / "pipeline.json"
        self.state = self.dir / "state"
        self.alert_log = self.dir / "out" / "alerts.jsonl"
        self.summary = self.dir / "summary.json"
        self.hosts = []
        self.driver = None
        self.receiver = Receiver()
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.env = dict(os.environ, DASHBOARD_TEST_HOOK=self.receiver.url(),
                        DASHBOARD_TEST_HEADERS="Authorization: " + SECRET_HEADER)
        self.env.pop("SLUICE_PLUGIN_PATH", None)
        self.pid = PIPELINE_ID
        self.files = 0
        self.records = 0  # the good JSON lines dropped so far: what `quality` took in
        self.browser_log = []
        self.fetched = []  # (what, body) of every page and API answer, searched for the secrets

    # -- setup ---------------------------------------------------------------------------

    def write_pipeline(self):
        d = str(self.dir)
        pipeline = {
            "name": PIPELINE_ID, "namespace": "browser-test",
            "description": "The dashboard's browser test: a followed inbox, two alerting stages, an error edge, two publishers.",
            "batch": {"maxRecords": 1000, "maxDelayMs": 200},
            "state": {"path": d + "/state"}, "spool": {"path": d + "/spool"},
            "sla": {"batchMs": 20},  # low, so that the duration chart shows both the SLA line and the bars
            "stages": [
                {"name": "events", "plugin": {"name": "JSONLSource", "properties": {
                    "path": d + "/inbox", "pattern": "*.jsonl", "follow": True, "pollMs": 50}}},
                {"name": "quality", "plugin": {"name": "QualityCheck", "properties": {
                    "field": "data_points", "min": 10, "idField": "store_id", "countField": "n_elements"}}},
                {"name": "hot", "plugin": {"name": "AlertRule", "properties": {
                    "when": "temp > 50", "payload": {"sensor": "sensor", "temp": "temp"}}},
                 "alerts": {"groupBy": ["sensor"], "aggregates": [{"name": "hot_readings", "function": "count"}],
                            "condition": "hot_readings >= 1", "recover": "hot_readings < 1",
                            "keepFiringMs": 3600000, "severity": "critical"}},
                {"name": "kept", "plugin": {"name": "JSONLSink", "properties": {"path": d + "/out/kept.jsonl"}}},
                {"name": "rejected", "plugin": {"name": "JSONLSink", "properties": {"path": d + "/out/rejected.jsonl"}}},
                {"name": "alert-log", "plugin": {"name": "AlertLog", "properties": {"path": str(self.alert_log)}}},
                # The URL and the headers are secrets (the widgets file says so), from the
                # environment as they should be; neither may show anywhere.
                {"name": "hook", "plugin": {"name": "Webhook", "properties": {
                    "format": "json", "url": "${env:DASHBOARD_TEST_HOOK}",
                    "headers": "${env:DASHBOARD_TEST_HEADERS}", "rateLimit": "0"}}},
            ],
            "connections": [{"from": f, "to": t} if p == "records" else {"from": f, "to": t, "port": p}
                            for f, t, p in sorted(EDGES)],
        }
        self.pipeline.write_text(json.dumps(pipeline, indent=2))

    def drop(self, lines, good):
        """Writes a file beside the inbox, then renames it in whole: the follower never sees half."""
        self.files += 1
        name = f"batch-{self.files:03d}.jsonl"
        staging = self.dir / name
        staging.write_text("".join(line + "\n" for line in lines))
        os.rename(staging, self.inbox / name)
        self.records += good

    def start_host(self):
        self.write_pipeline()
        host = Host("host-run", ["run", str(self.pipeline), "--http", "127.0.0.1:0", "--progress", "none",
                                 "--summary-json", str(self.summary)], self.env, self.dir)
        self.hosts.append(host)
        self.base = host.listening()
        self.run_host = host
        # The history database is made as the run starts: a request in its first
        # milliseconds can find the file without its tables yet (answered 500, "not a
        # history"). The pages are not what that is about: they start once it is there.
        wait_until("the run's history to answer (GET …/runs)",
                   lambda: fetch(f"{self.base}/api/v1/pipelines/{PIPELINE_ID}/runs")[0] == 200)
        step(f"host run serves {self.base}")

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM  # the Debian wrapper: its /etc/chromium.d flags (/dev/shm)
        for arg in ("--headless=new", "--no-sandbox", "--window-size=1280,800", "--hide-scrollbars"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(WAIT)
        self.viewport(1280, 800)

    def viewport(self, width, height):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # -- browser helpers -----------------------------------------------------------------

    def wait(self, what, condition, seconds=WAIT):
        try:
            return WebDriverWait(self.driver, seconds, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(condition)
        except TimeoutException:
            raise Failure(f"waited {seconds} s for {what} (at {self.driver.current_url})") from None

    def css(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def open(self, page):
        """Loads a page afresh by its hash route and waits for its first data (main[data-ready]).
        Afresh: a hash change alone is a navigation within the document, which could still
        show the page before's data-ready; so a reload after it. (Not about:blank in between:
        each page left so would stay in the back/forward cache with its event stream open,
        and the seventh would wait for one of Chromium's six connections to the host.)"""
        self.driver.get(f"{self.base}/#/{page}?pipeline={self.pid}")
        self.driver.refresh()
        kind = page.split("/")[0]
        self.wait(f"main[data-page={kind}] to be ready",
                  lambda d: self.ready(kind))
        self.collect_log()
        self.fetched.append((f"page source of /#/{page}", self.driver.page_source))

    def ready(self, kind):
        main = self.css(f'main[data-page="{kind}"]')
        if not main:
            return False
        error = main[0].get_attribute("data-error")
        if error:
            raise Failure(f"the {kind} page says data-error={error!r}")
        return main[0].get_attribute("data-ready") == "true"

    def counter(self, stage, name):
        found = self.css(f'g.stage[data-stage="{stage}"] text[data-counter="{name}"]')
        if not found:
            return None
        value = found[0].get_attribute("data-value")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None

    def collect_log(self):
        self.browser_log += self.driver.get_log("browser")

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        check(self.driver.save_screenshot(str(path)), f"cannot save {path}")
        step(f"screenshot {path.relative_to(ROOT)}")

    # -- the scenario --------------------------------------------------------------------

    def the_graph(self):
        self.open("pipeline")
        self.scripts = len(self.css("script"))
        self.wait(f"{len(STAGES)} g.stage in svg#pipeline-graph",
                  lambda d: len(self.css("svg#pipeline-graph g.stage")) == len(STAGES))
        self.wait("#live-status to be connected",
                  lambda d: (self.css("#live-status") or [None])[0] is not None
                  and self.css("#live-status")[0].get_attribute("data-state") == "connected")
        stages = {g.get_attribute("data-stage"): g.get_attribute("data-kind") for g in self.css("svg#pipeline-graph g.stage")}
        check(stages == STAGES, f"the graph's stages: {stages}, expected {STAGES}")
        edges = {(p.get_attribute("data-from"), p.get_attribute("data-to"), p.get_attribute("data-port"))
                 for p in self.css("svg#pipeline-graph path.edge")}
        check(len(self.css("svg#pipeline-graph path.edge")) == len(EDGES), f"{len(self.css('path.edge'))} path.edge, expected {len(EDGES)}")
        check(edges == EDGES, f"the graph's edges: {sorted(edges)}, expected {sorted(EDGES)}")
        alert_ports = {g.get_attribute("data-stage") for g in self.css("svg#pipeline-graph g.stage")
                       if g.find_elements(By.CSS_SELECTOR, 'circle.port[data-port="alerts"]')}
        check(alert_ports == ALERTING, f"alert ports on {alert_ports}, expected exactly {ALERTING}")
        graph = get_json(f"{self.base}/api/v1/pipelines/{PIPELINE_ID}/graph")
        error_stages = {s["name"] for s in graph["stages"] if s.get("emitsErrors")}
        error_ports = {g.get_attribute("data-stage") for g in self.css("svg#pipeline-graph g.stage")
                       if g.find_elements(By.CSS_SELECTOR, 'circle.port[data-port="errors"]')}
        check(error_ports == error_stages, f"error ports on {error_ports}, the graph's emitsErrors {error_stages}")
        step(f"graph: {len(stages)} stages, {len(edges)} edges, alert ports on {sorted(alert_ports)}")

    def counters_grow(self):
        self.wait("quality's recordsIn to show 0 before any file", lambda d: self.counter("quality", "recordsIn") == 0)
        self.drop([
            json.dumps({"store_id": "s1", "data_points": list(range(12)), "sensor": "t0", "temp": 20}),
            json.dumps({"store_id": "s2", "data_points": [1, 2, 3], "sensor": "t0", "temp": 21}),
            json.dumps({"store_id": XSS_SCRIPT, "data_points": [1, 2], "sensor": "t1", "temp": 71}),
            json.dumps({"store_id": XSS_IMG, "data_points": [1], "sensor": "t0", "temp": 20}),
            json.dumps({"store_id": "s3", "sensor": "t0", "temp": 22}),  # no data_points: quality's error port
            "{not json",                                                  # the source's error port
        ], good=5)
        self.wait(f"quality's recordsIn to reach {self.records} after the first file",
                  lambda d: self.counter("quality", "recordsIn") == self.records)
        self.wait("rejected's recordsIn to count the record without data_points",
                  lambda d: (self.counter("rejected", "recordsIn") or 0) >= 1)
        self.wait("hot's alertsEmitted to count the hot reading",
                  lambda d: (self.counter("hot", "alertsEmitted") or 0) >= 1)
        first = self.records
        # Numbers that change move nothing: every stage keeps its box, and the browser sees
        # no layout shift (PerformanceObserver, from before the update to after it).
        boxes = self.stage_boxes()
        self.driver.execute_script("""
            window.__shift = 0;
            new PerformanceObserver(list => { for (const e of list.getEntries()) window.__shift += e.value; })
              .observe({type: "layout-shift"});""")
        self.drop([json.dumps({"store_id": f"s{i}", "data_points": list(range(10)), "sensor": "t0", "temp": 20})
                   for i in range(10, 16)], good=6)
        self.wait(f"quality's recordsIn to grow from {first} to {self.records} after the second file",
                  lambda d: self.counter("quality", "recordsIn") == self.records)
        check(self.stage_boxes() == boxes, "the stages moved when their counters changed")
        shift = self.driver.execute_script("return window.__shift;")
        check(shift == 0, f"layout shift {shift} while the counters changed")
        step(f"counters grow: quality recordsIn {first} → {self.records}, nothing moved (layout shift 0)")
        self.shot("pipeline.png")

    def stage_boxes(self):
        """Each stage's box on the page, by name."""
        return self.driver.execute_script("""
            const out = {};
            for (const g of document.querySelectorAll("svg#pipeline-graph g.stage")) {
              const r = g.getBoundingClientRect();
              out[g.dataset.stage] = [r.x, r.y, r.width, r.height];
            }
            return out;""")

    def stage_panel(self):
        graph = get_json(f"{self.base}/api/v1/pipelines/{PIPELINE_ID}/graph")
        versions = {s["name"]: s["version"] for s in graph["stages"]}
        self.css('g.stage[data-stage="hook"]')[0].click()
        panel = self.wait("aside#stage-detail[data-stage=hook] after clicking the hook stage",
                          lambda d: next((a for a in self.css('aside#stage-detail[data-stage="hook"]') if a.is_displayed()), False))
        plugin = panel.find_element(By.CSS_SELECTOR, '[data-field="plugin"]').text.strip()
        version = panel.find_element(By.CSS_SELECTOR, '[data-field="version"]').text.strip()
        check(plugin == "Webhook", f"the hook's plugin in its panel: {plugin!r}")
        check(version and version in (versions["hook"], "v" + versions["hook"]), f"the hook's version in its panel: {version!r}, the API's {versions['hook']!r}")
        for name in ("url", "headers"):
            value = self.wait(f"the hook's property {name} in its panel",
                              lambda d: panel.find_elements(By.CSS_SELECTOR, f'tr[data-property="{name}"] td.value'))
            check(value[0].text.strip() == "[secret]", f"the hook's {name} shows {value[0].text!r}, not [secret]")
        step("stage panel: Webhook with its version, url and headers shown as [secret]")
        self.fetched.append(("page source with the hook's panel", self.driver.page_source))
        self.shot("stage.png")

        self.css('g.stage[data-stage="quality"]')[0].click()
        panel = self.wait("aside#stage-detail[data-stage=quality] after clicking the quality stage",
                          lambda d: next((a for a in self.css('aside#stage-detail[data-stage="quality"]') if a.is_displayed()), False))
        self.wait("quality's last errors (the record without data_points) in its panel",
                  lambda d: panel.find_elements(By.CSS_SELECTOR, "ul#last-errors li"))
        self.collect_log()
        self.fetched.append(("page source with the quality panel", self.driver.page_source))
        step("stage panel: QualityCheck's last errors")

    def escaping(self):
        self.open("alerts")
        for value in (XSS_SCRIPT, XSS_IMG):
            self.wait(f"the payload value {value} as text in table#alerts td.payload",
                      lambda d: any(value in c.text for c in self.css("table#alerts tbody tr td.payload")))
        check(len(self.css("script")) == self.scripts,
              f"{len(self.css('script'))} script elements on the alerts page, {self.scripts} on the first page")
        check(not self.css("main script, main img"), "a payload became elements")
        check(self.driver.title != "pwned", "a payload's script ran")
        self.wait("the incident of the hot reading (firing) in table#incidents",
                  lambda d: self.css('table#incidents tbody tr[data-incident][data-state="firing"]'))
        self.wait("the hook's row in table#publishers", lambda d: self.css('table#publishers tbody tr[data-publisher="hook"]'))
        step("alerts page: the <script> payload is text, the incident fires, the publishers are listed")
        self.shot("alerts.png")

    def silences(self):
        self.open("silences")
        form = self.css("form#silence-form")
        check(form, "no form#silence-form on the silences page")
        form = form[0]
        for field, value in (("textarea[name=matchers]", "stage=quality\nstore_id=s-quiet"), ("input[name=duration]", "2h"),
                             ("input[name=comment]", "browser test: from the page"), ("input[name=author]", "selenium")):
            element = form.find_element(By.CSS_SELECTOR, field)
            element.clear()  # a default, or the author the page remembers
            element.send_keys(value)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        message = self.wait("#silence-message[data-outcome] after submitting the form",
                            lambda d: next((m for m in self.css("#silence-message") if m.get_attribute("data-outcome")), False))
        check(message.get_attribute("data-outcome") == "ok", f"the form's outcome: {message.get_attribute('data-outcome')}: {message.text}")

        def listed():
            r = subprocess.run([str(HOST), "silence", "list", "--pipeline", str(self.pipeline), "--json"],
                               env=self.env, capture_output=True, text=True, timeout=WAIT)
            check(r.returncode == 0, f"host silence list: {r.returncode} {r.stderr}")
            return [s for s in json.loads(r.stdout)["silences"] if s.get("comment") == "browser test: from the page"]
        found = listed()
        check(len(found) == 1, f"host silence list --json does not list the page's silence once: {found}")
        page_silence = found[0]
        matchers = {(m["name"], m["op"], m["value"]) for m in page_silence["matchers"]}
        check(matchers == {("stage", "=", "quality"), ("store_id", "=", "s-quiet")}, f"the page's silence's matchers: {matchers}")
        self.wait(f"the page's silence {page_silence['id']} listed active",
                  lambda d: self.css(f'table#silences tbody tr[data-silence="{page_silence["id"]}"][data-state="active"]'))
        step(f"a silence added in the page ({page_silence['id']}) is listed by host silence list")

        # It holds back the alert it matches: the file's silenced record comes first, the
        # loud one after it, so once the loud alert is in the log the quiet one's batch was
        # delivered too (the host re-reads silences.json at the start of every batch).
        silenced_before = metric(self.base, "sluice_alerts_total", {"stage": "quality", "outcome": "silenced"})
        self.drop([json.dumps({"store_id": "s-quiet", "data_points": [1], "sensor": "t0", "temp": 20}),
                   json.dumps({"store_id": "s-loud", "data_points": [1], "sensor": "t0", "temp": 20})], good=2)
        wait_until("the alert of s-loud in the AlertLog file",
                   lambda: '"s-loud"' in self.alert_log.read_text())
        check('"s-quiet"' not in self.alert_log.read_text(), "the silenced alert of s-quiet reached the AlertLog file")
        wait_until("sluice_alerts_total{stage=quality,outcome=silenced} to count the silenced alert",
                   lambda: metric(self.base, "sluice_alerts_total", {"stage": "quality", "outcome": "silenced"}) >= silenced_before + 1)
        step("the page's silence held back the s-quiet alert (not in the log, counted silenced); s-loud went through")

        # A silence added with the command line shows in the page (on reload), and the page
        # expires it for the command line.
        add = subprocess.run([str(HOST), "silence", "add", "--pipeline", str(self.pipeline), "--match", "stage=hot",
                              "--match", "sensor=t9", "--for", "1h", "--comment", "browser test: from the cli"],
                             env=self.env, capture_output=True, text=True, timeout=WAIT)
        check(add.returncode == 0, f"host silence add: {add.returncode} {add.stderr}")
        cli_id = add.stdout.strip()
        self.open("silences")
        row = self.wait(f"the CLI's silence {cli_id} in table#silences",
                        lambda d: self.css(f'table#silences tbody tr[data-silence="{cli_id}"]'))[0]
        check(row.get_attribute("data-state") == "active", f"the CLI's silence shows {row.get_attribute('data-state')}")
        step(f"a silence added with host silence add ({cli_id}) shows in the page")
        self.shot("silences.png")
        row.find_element(By.CSS_SELECTOR, 'button[data-action="expire"]').click()
        try:
            self.driver.switch_to.alert.accept()  # if the page asks to confirm
        except NoAlertPresentException:
            pass

        def expired():
            r = subprocess.run([str(HOST), "silence", "list", "--pipeline", str(self.pipeline), "--json", "--all"],
                               env=self.env, capture_output=True, text=True, timeout=WAIT)
            return any(s["id"] == cli_id and s["state"] == "expired" for s in json.loads(r.stdout)["silences"])
        wait_until(f"host silence list --all to show {cli_id} expired after the page's expire button", expired)
        self.wait(f"the row of {cli_id} to show expired (or leave the active list)",
                  lambda d: not self.css(f'table#silences tbody tr[data-silence="{cli_id}"][data-state="active"]'))
        self.collect_log()
        step("the page's expire button ended the CLI's silence")

    def other_pages(self):
        self.open("batches")
        for chart in ("duration", "records", "rates", "alerts"):
            self.wait(f"svg.chart[data-chart={chart}]", lambda d: self.css(f'svg.chart[data-chart="{chart}"]'))
        self.wait("the SLA line (sla.batchMs) in the duration chart",
                  lambda d: self.css('svg.chart[data-chart="duration"] line.sla'))
        self.shot("batches.png")
        # The navigation's own link, once: the hash route changes within the document.
        self.css('nav a[data-page="catalog"]')[0].click()
        self.wait("main[data-page=catalog] ready after clicking its link in the nav", lambda d: self.ready("catalog"))
        for name, kind in (("QualityCheck", "transform"), ("Webhook", "alertpublisher"), ("JSONLSource", "source")):
            self.wait(f"the catalog's row of {name} ({kind})",
                      lambda d: self.css(f'table#catalog tbody tr[data-plugin="{name}"][data-type="{kind}"]'))
        self.shot("catalog.png")
        self.open("runs")
        rows = self.wait("a run in table#runs", lambda d: self.css("table#runs tbody tr[data-run]"))
        run = rows[0].get_attribute("data-run")
        self.open(f"runs/{run}")
        self.wait(f"section#run-detail[data-run={run}]", lambda d: self.css(f'section#run-detail[data-run="{run}"]'))
        self.open("runs")
        self.shot("runs.png")
        step("batches (4 charts, SLA line), catalog, runs and a run's detail")

    def looks(self):
        self.open("pipeline")
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        self.wait("the page to follow prefers-color-scheme: dark",
                  lambda d: d.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches"))
        self.shot("pipeline-dark.png")
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        self.viewport(420, 800)
        self.open("pipeline")
        overflow = self.driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 0, f"at 420 px wide the page scrolls sideways by {overflow} px (the graph should scroll in its own box)")
        self.shot("pipeline-narrow.png")
        self.viewport(1280, 800)
        step("dark mode and a 420 px window")

    def no_secrets(self):
        api = f"{self.base}/api/v1"
        p = f"{api}/pipelines/{PIPELINE_ID}"
        urls = [f"{self.base}/", f"{api}/pipelines", f"{p}/graph", f"{p}/status", f"{p}/batches", f"{p}/runs",
                f"{p}/incidents", f"{p}/alerts", f"{p}/publishers", f"{p}/silences?all=1", f"{api}/catalog",
                f"{self.base}/metrics"] + [f"{p}/stages/{s}" for s in STAGES]
        for url in urls:
            status, _, body = fetch(url)
            check(status == 200, f"GET {url}: {status} {body[:300]!r}")
            self.fetched.append((url, body.decode("utf-8", errors="replace")))
        for what, text in self.fetched:
            for secret in (SECRET_URL_TOKEN, SECRET_HEADER.split()[1]):
                check(secret not in text, f"a secret ({secret[:8]}…) is in {what}")
        with self.receiver.lock:
            check(any(path.endswith(SECRET_URL_TOKEN) and auth == SECRET_HEADER for path, auth, _ in self.receiver.bodies),
                  "the Webhook publisher never reached its secret URL with its secret header (the test's premise)")
        step(f"no secret in {len(self.fetched)} pages and API answers (the webhook got {len(self.receiver.bodies)} posts)")

    def clean_log(self):
        self.collect_log()
        severe = [e for e in self.browser_log if e.get("level") == "SEVERE"]
        check(not severe, "the browser's log has SEVERE entries:\n" + "\n".join(e.get("message", "") for e in severe))
        step(f"browser log: {len(self.browser_log)} entries, none SEVERE")

    def stop_and_serve(self):
        run_address = self.base.removeprefix("http://")
        status = self.run_host.stop()
        check(status == 4, f"host run stopped by SIGTERM exited {status}, expected 4 (docs/pipelines.md)\n{self.run_host.tail()}")
        self.wait("#live-status to leave connected once the host stopped",
                  lambda d: self.css("#live-status")[0].get_attribute("data-state") != "connected")
        summary = json.loads(self.summary.read_text())
        quality = next(s for s in summary["stages"] if s["name"] == "quality")
        check(quality["alerts"]["silenced"] >= 1, f"the summary's quality alerts: {quality['alerts']}")
        step(f"host run stopped (exit 4) with the page open; the summary counts {quality['alerts']['silenced']} silenced")
        serve = Host("host-serve", ["serve", "--state", str(self.state), "--http", "127.0.0.1:0"], self.env, self.dir)
        self.hosts.append(serve)
        self.base = serve.listening()
        pipelines = get_json(f"{self.base}/api/v1/pipelines")
        check(pipelines.get("mode") == "serve" and [p["name"] for p in pipelines["pipelines"]] == [PIPELINE_ID],
              f"host serve's pipelines: {pipelines}")
        self.pid = pipelines["pipelines"][0]["id"]
        self.open("runs")
        # The run's page, left open, tried to reconnect its event stream to the stopped host:
        # those refused connections are expected; anything else is not.
        self.browser_log = [e for e in self.browser_log if run_address not in e.get("message", "")]
        self.wait(f"run {summary['run']} in host serve's runs",
                  lambda d: self.css(f'table#runs tbody tr[data-run="{summary["run"]}"]'))
        self.wait("#live-status off in host serve's page",
                  lambda d: any(e.get_attribute("data-state") == "off" for e in self.css("#live-status")))
        self.open("alerts")
        self.wait("the incident in host serve's alerts page", lambda d: self.css("table#incidents tbody tr[data-incident]"))
        self.wait("the <script> payload as text in host serve's alerts page",
                  lambda d: any(XSS_SCRIPT in c.text for c in self.css("table#alerts tbody tr td.payload")))
        self.clean_log()
        step("host serve --state shows the run and its incident")

    def run(self):
        check(HOST.exists(), f"{HOST} is missing: swift build first")
        for tool in (CHROMIUM, CHROMEDRIVER):
            check(os.access(tool, os.X_OK), f"{tool} is missing: tools/setup-deps installs chromium and chromium-driver")
        if SHOTS.exists():
            shutil.rmtree(SHOTS)
        self.start_host()
        self.start_browser()
        self.the_graph()
        self.counters_grow()
        self.stage_panel()
        self.escaping()
        self.silences()
        self.other_pages()
        self.looks()
        self.no_secrets()
        self.clean_log()
        self.stop_and_serve()
        if self.args.docs:
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            for png in sorted(SHOTS.glob("*.png")):
                shutil.copy(png, DOCS_SHOTS / png.name)
            step(f"screenshots copied to {DOCS_SHOTS.relative_to(ROOT)}")

    def close(self, failed):
        if failed and self.driver is not None:
            try:
                OUT.mkdir(parents=True, exist_ok=True)
                self.driver.save_screenshot(str(OUT / "failure.png"))
                (OUT / "failure.html").write_text(self.driver.page_source)
                print(f"the page at the failure: {OUT / 'failure.png'}, {OUT / 'failure.html'} ({self.driver.current_url})")
            except Exception as error:
                print(f"(no screenshot of the failure: {error})")
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:
                pass
        for host in self.hosts:
            running = host.process.poll() is None
            host.kill()
            if failed:
                print(f"-- {host.name}: {'killed' if running else f'exit {host.process.returncode}'}; the tail of its stderr:")
                print(host.tail())
        self.receiver.shutdown()
        OUT.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            shutil.copy(host.err_path, OUT / host.err_path.name)
        self.folder.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", action="store_true", help="also copy the screenshots to docs/dashboard/")
    args = parser.parse_args()
    started = time.monotonic()
    # Stopped from outside (a CI timeout): still kill the hosts and the browser, below.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    test = Test(args)
    failed = True
    try:
        test.run()
        failed = False
    except Failure as failure:
        print(f"FAIL: {failure}")
    except Exception:
        print("ERROR: " + traceback.format_exc().rstrip().replace("\n", "\n  "))
    finally:
        test.close(failed)
    print(f"browser test: {'failed' if failed else 'passed'} in {time.monotonic() - started:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
