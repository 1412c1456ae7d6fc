"""The service validators as tests: the real host posts alerts made of the nastiest payloads
to a real HTTP server on 127.0.0.1 through every Webhook format, and every body that arrives
is checked with the services' own validators — datadog-api-client's models, slack_sdk's
Block Kit models (their length checks included), an Adaptive Card schema, a PagerDuty
Events v2 schema — and the limits each service counts in code points or bytes. Then the
same for alerts with a life (issue 22): each nasty alert's incident fires, is renotified,
refreshed and resolved (`host test-plugin Webhook` with envelope-like input lines), and
every format's firing and resolved bodies pass the same validators, with one dedup key,
aggregation key or label set per incident. Last, one incident's whole life through
`host run --follow` (fire, renotify, a silence set from the CLI while the run goes on,
resolve), seen by a real Alertmanager and by the PagerDuty schema.

Run by ./run (which makes the virtual environment); the host must be built (.build/debug).
"""

import datetime
import http.server
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import unittest

import jsonschema
from datadog_api_client.v1.model.event_alert_type import EventAlertType
from datadog_api_client.v1.model.event_create_request import EventCreateRequest
from datadog_api_client.v1.model.event_priority import EventPriority
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOST = pathlib.Path(os.environ.get("SLUICE_HOST", ROOT / ".build" / "debug" / "host"))
ROUTING_KEY = "R" * 32  # PagerDuty's integration keys are 32 characters

FAMILY = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"  # one character, 7 code points
NASTY = [
    {"id": "zwj", "note": FAMILY * 700},
    {"id": "combining", "note": "e\u0301" * 3500},
    {"id": "rtl", "note": ("שלום עולם مرحبا بالعالم \u202eevil\u202c " * 300)},
    {"id": "slack", "note": "<!channel> & <@U024BE7LH> <https://example.com|x> &amp; " * 200 + "&"},
    {"id": "escapes", "note": "&" * 3000 + "&\u0301<\u0338>"},
    {"id": "huge", "note": "x" * 1_000_000},
    {"id": "controls", "note": "a\u0000b\u001fc\u007fd\u2028e\u2029f\ud7ff\ue000\r\n\t\"\\/"},
    dict({"id": "wide", "note": "300 fields"}, **{f"field{i:03d}": (FAMILY + "v" * 60) * 3 for i in range(300)}),
    {"id": "odd keys", "note": "n", "we ird.key-ü": "x", "9lives": "y", "": "empty name"},
]

LIMITS_BYTES = {"pagerduty": 512_000, "teams": 28_000, "teams-messagecard": 28_000}


def code_points(text):
    return len(text)  # a Python str is a sequence of code points


class Receiver(http.server.ThreadingHTTPServer):
    """A real HTTP/1.1 server on 127.0.0.1 recording every body by path, answering 202."""

    daemon_threads = True
    request_queue_size = 256  # the publishers open several connections at once

    def __init__(self):
        self.lock = threading.Lock()
        self.bodies = {}

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.bodies.setdefault(self.path, []).append((dict(self.headers), body))
                answer = b'{"status":"success"}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


def pipeline(folder):
    """Every format, posting to ${RECEIVER}; the secrets come from the environment, as they should."""
    url = "${env:RECEIVER}"

    def hook(name, **properties):
        return {"name": name, "plugin": {"name": "Webhook", "properties": properties}}

    nasty_title = "{payload.id}: {payload.note}"
    publishers = [
        hook("json", format="json", url=url + "/json"),
        hook("slack", format="slack", url=url + "/slack", title=nasty_title, maxAlertsPerMessage="48"),
        hook("slack-text", format="slack", url=url + "/slack-text", title=nasty_title, text="{payload.note} {payload.note}"),
        hook("teams", format="teams", url=url + "/teams", title=nasty_title, text="{payload.note}"),
        hook("teams-messagecard", format="teams-messagecard", url=url + "/teams-messagecard", title=nasty_title, text="{payload.note}"),
        hook("datadog", format="datadog", apiKey="${env:DD_API_KEY}", endpoint=url + "/datadog", title=nasty_title, text="{payload.note}", tags="id,note"),
        hook("datadog-pages", format="datadog", apiKey="${env:DD_API_KEY}", endpoint=url + "/datadog-pages", title=nasty_title,
             overflow="paginate"),
        hook("pagerduty", format="pagerduty", routingKey="${env:PAGERDUTY_ROUTING_KEY}", endpoint=url + "/pagerduty", title=nasty_title,
             source="{payload.note}", rateLimit="0"),
        # Templates of a field no alert has: the services refuse empty titles and sources.
        hook("slack-blank", format="slack", url=url + "/slack-blank", title="{payload.absent}"),
        hook("datadog-blank", format="datadog", apiKey="${env:DD_API_KEY}", endpoint=url + "/datadog-blank", title="{payload.absent}"),
        hook("pagerduty-blank", format="pagerduty", routingKey="${env:PAGERDUTY_ROUTING_KEY}", endpoint=url + "/pagerduty-blank",
             title="{payload.absent}", source=" ", rateLimit="0"),
        hook("alertmanager", format="alertmanager", url=url + "/alertmanager", alertName="{payload.id} {payload.note}",
             generatorURL="http://sluice.example/run"),
    ]
    return {
        "name": "validators", "namespace": "nasty ns <!channel> &",
        "batch": {"maxRecords": 100},
        "retry": {"maxAttempts": 1},
        "state": {"path": folder + "/state"}, "spool": {"path": folder + "/spool"},
        "stages": [
            {"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": folder + "/in.jsonl"}}},
            {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}},
        ] + publishers,
        "connections": [{"from": "src", "to": "hot"}]
        + [{"from": "hot", "to": p["name"], "port": "alerts"} for p in publishers],
    }


class Checks:
    """The validators of each service's bodies, shared by the runs below."""

    def bodies(self, path):
        got = self.receiver.bodies.get(path, [])
        self.assertTrue(got, f"nothing arrived at {path}")
        return [body for _, body in got]

    def documents(self, path, fmt):
        out = []
        for body in self.bodies(path):
            if fmt in LIMITS_BYTES:
                self.assertLess(len(body), LIMITS_BYTES[fmt], f"{fmt}: {len(body)} bytes")
            out.append(json.loads(body.decode("utf-8")))  # strict UTF-8: no split sequence
        return out

    def check_slack(self, path):
        messages = self.documents(path, "slack")
        for msg in messages:
            self.assertLessEqual(code_points(msg["text"]), 40_000)
            self.assertLessEqual(len(msg["blocks"]), 50)
            texts = [b.get("text", {}).get("text", "") for b in msg["blocks"]]
            texts += [e.get("text", "") for b in msg["blocks"] for e in b.get("elements", [])]
            self.assertLessEqual(sum(map(code_points, texts)), 12_000, "all the blocks' text (msg_blocks_too_long)")
            for raw in msg["blocks"]:
                block = Block.parse(raw)
                self.assertIsNotNone(block, raw.get("type"))
                try:
                    block.validate_json()
                except SlackObjectFormationError as e:
                    self.fail(f"{path}: slack_sdk refuses a {raw['type']} block: {e}")
                if raw["type"] == "header":
                    self.assertTrue(raw["text"]["text"].strip(), "Slack needs a header's text")
                if raw["type"] == "section":
                    self.assert_escaped(raw["text"]["text"])
            self.assert_escaped(msg["text"])
        return messages

    def assert_escaped(self, text):
        """Every & starts an escape, and no < or > is left bare: no @channel from a payload."""
        for i, c in enumerate(text):
            if c == "&":
                self.assertTrue(text.startswith(("&amp;", "&lt;", "&gt;"), i), f"a bare & at {i}: {text[max(0, i - 10):i + 10]!r}")
        self.assertNotIn("<!channel>", text)

    def check_schema(self, path, fmt, schema_file):
        schema = json.loads((HERE / "schemas" / schema_file).read_text())
        messages = self.documents(path, fmt)
        for msg in messages:
            jsonschema.validate(msg, schema)
        return messages

    def check_datadog(self, path):
        events = self.documents(path, "datadog")
        for e in events:
            EventCreateRequest(
                text=e["text"], title=e["title"], tags=e["tags"], alert_type=EventAlertType(e["alert_type"]),
                aggregation_key=e["aggregation_key"], source_type_name=e["source_type_name"],
                date_happened=e["date_happened"], priority=EventPriority(e["priority"]))
            self.assertIn(e["alert_type"], ["error", "warning", "info", "success"])
            self.assertLessEqual(code_points(e["title"]), 100, "Datadog titles: 100 characters")
            self.assertTrue(e["title"].strip(), "Datadog needs a title")
            self.assertLessEqual(code_points(e["text"]), 4000)
            for tag in e["tags"]:
                self.assertLessEqual(code_points(tag), 200, "Datadog tags: 200 characters")
        return events

    def check_pagerduty(self, path):
        schema = json.loads((HERE / "schemas" / "pagerduty-events-v2.schema.json").read_text())
        events = self.documents(path, "pagerduty")
        for e in events:
            jsonschema.validate(e, schema)
            if e["event_action"] == "trigger":
                datetime.datetime.fromisoformat(e["payload"]["timestamp"])
                self.assertLessEqual(code_points(e["payload"]["source"]), 255)
                self.assertTrue(e["payload"]["summary"].strip() and e["payload"]["source"].strip(), "PagerDuty needs both")
        return events

    def check_alertmanager(self, path):
        schema = json.loads((HERE / "schemas" / "alertmanager-postable-alerts.schema.json").read_text())
        alerts = [a for doc in self.documents(path, "alertmanager") for a in doc]
        for a in alerts:
            jsonschema.validate([a], schema)
            starts = datetime.datetime.fromisoformat(a["startsAt"])
            ends = datetime.datetime.fromisoformat(a["endsAt"])
            self.assertLessEqual(starts, ends)
        return alerts


class ServiceValidators(Checks, unittest.TestCase):
    """One host run; each test checks one service's bodies."""

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        cls.folder = tempfile.TemporaryDirectory(prefix="sluice-service-validators-")
        folder = cls.folder.name
        with open(folder + "/in.jsonl", "w", encoding="utf-8") as f:
            for i, record in enumerate(NASTY):
                f.write(json.dumps(dict(record, t=60 + i), ensure_ascii=False) + "\n")
        with open(folder + "/pipeline.json", "w", encoding="utf-8") as f:
            json.dump(pipeline(folder), f)
        env = dict(os.environ, SLUICE_OUT=folder + "/out", RECEIVER=cls.receiver.url, DD_API_KEY="dd-key",
                   PAGERDUTY_ROUTING_KEY=ROUTING_KEY)
        env.pop("SLUICE_PLUGIN_PATH", None)
        cls.host_run = subprocess.run([str(HOST), "run", folder + "/pipeline.json", "--progress", "none",
                                  "--summary-json", folder + "/summary.json"],
                                 env=env, capture_output=True, text=True, timeout=120)
        with open(folder + "/summary.json", encoding="utf-8") as f:
            cls.summary = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.receiver.shutdown()
        cls.receiver.server_close()
        cls.folder.cleanup()

    def test_the_run_delivered_every_alert(self):
        self.assertEqual(self.host_run.returncode, 0, self.host_run.stdout + self.host_run.stderr)
        for p in self.summary["publishers"]:
            self.assertEqual(p["published"], len(NASTY), p)
            self.assertEqual(p["failed"], 0, p)

    def test_json_envelopes(self):
        alerts = [a for doc in self.documents("/json", "json") for a in doc]
        self.assertEqual(sorted(a["payload"]["id"] for a in alerts), sorted(r["id"] for r in NASTY))
        for a in alerts:
            record = next(r for r in NASTY if r["id"] == a["payload"]["id"])
            self.assertEqual(a["payload"]["note"], record["note"], "the payload arrives whole")

    def test_slack_block_kit(self):
        for path in ["/slack", "/slack-text", "/slack-blank"]:
            self.check_slack(path)

    def test_teams_adaptive_card(self):
        self.check_schema("/teams", "teams", "adaptive-card-message.schema.json")

    def test_teams_message_card(self):
        self.check_schema("/teams-messagecard", "teams-messagecard", "messagecard.schema.json")

    def test_datadog_events(self):
        for path in ["/datadog", "/datadog-pages", "/datadog-blank"]:
            events = self.check_datadog(path)
            if path == "/datadog-pages":
                self.assertGreater(len(events), len(NASTY), "the long texts were paginated")

    def test_pagerduty_events(self):
        events = self.check_pagerduty("/pagerduty") + self.check_pagerduty("/pagerduty-blank")
        self.assertEqual(len(events), 2 * len(NASTY))
        self.assertEqual({e["event_action"] for e in events}, {"trigger"})

    def test_alertmanager_alerts(self):
        alerts = self.check_alertmanager("/alertmanager/api/v2/alerts")
        self.assertEqual(len(alerts), len(NASTY))
        for a in alerts:
            self.assertLess(datetime.datetime.fromisoformat(a["startsAt"]), datetime.datetime.fromisoformat(a["endsAt"]))


class PagerDutySchema(unittest.TestCase):
    """The Events v2 schema itself: a trigger needs its payload, a resolve carries nothing else."""

    schema = json.loads((HERE / "schemas" / "pagerduty-events-v2.schema.json").read_text())

    def test_a_resolve_body_passes(self):
        jsonschema.validate({"routing_key": ROUTING_KEY, "dedup_key": "a" * 32, "event_action": "resolve"}, self.schema)
        jsonschema.validate({"routing_key": ROUTING_KEY, "dedup_key": "a" * 32, "event_action": "acknowledge"}, self.schema)

    def test_a_trigger_without_payload_fails(self):
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate({"routing_key": ROUTING_KEY, "dedup_key": "a" * 32, "event_action": "trigger"}, self.schema)

    def test_a_resolve_with_more_or_without_its_dedup_key_fails(self):
        payload = {"summary": "s", "source": "x", "severity": "error"}
        for body in [{"routing_key": ROUTING_KEY, "dedup_key": "k", "event_action": "resolve", "payload": payload},
                     {"routing_key": ROUTING_KEY, "event_action": "resolve"},
                     {"routing_key": ROUTING_KEY, "dedup_key": "k", "event_action": "resolve", "client": "Sluice"}]:
            with self.assertRaises(jsonschema.ValidationError, msg=json.dumps(body)):
                jsonschema.validate(body, self.schema)


# The nasty alerts whose incidents fire and resolve: every one but the 300-field one (whose
# bodies the run above checks), each keyed by its id.
LIFE_NASTY = [r for r in NASTY if r["id"] != "wide"]
START = "2026-11-21T06:00:00.000Z"
END = "2026-11-21T06:42:00.000Z"


def life_lines():
    """Per nasty alert: firing (critical), renotify, refresh, resolved; one call each."""
    lines = []
    for record in LIFE_NASTY:
        common = {"payload": record, "keyFields": ["id"], "severity": "critical", "startsAt": START}
        lines += [dict(common, status="firing"), dict(common, notification="renotify"),
                  dict(common, notification="refresh"), dict(common, status="resolved", endsAt=END)]
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


class LifecycleValidators(Checks, unittest.TestCase):
    """Alerts with a life through every format (host test-plugin, one alert per call)."""

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        cls.folder = tempfile.TemporaryDirectory(prefix="sluice-service-validators-life-")
        folder = cls.folder.name
        with open(folder + "/life.jsonl", "w", encoding="utf-8") as f:
            f.write(life_lines())
        url = cls.receiver.url
        nasty_title = "title={payload.id}: {payload.note}"
        formats = {
            "slack": ["format=slack", f"url={url}/slack", nasty_title, "rateLimit=0"],
            "teams": ["format=teams", f"url={url}/teams", nasty_title, "text={payload.note}", "rateLimit=0"],
            "teams-messagecard": ["format=teams-messagecard", f"url={url}/teams-messagecard", nasty_title, "rateLimit=0"],
            "datadog": ["format=datadog", "apiKey=dd-key", f"endpoint={url}/datadog", nasty_title, "text={payload.note}"],
            "pagerduty": ["format=pagerduty", f"routingKey={ROUTING_KEY}", f"endpoint={url}/pagerduty", nasty_title, "rateLimit=0"],
            "alertmanager": ["format=alertmanager", f"url={url}/alertmanager", "alertName={payload.id} {payload.note}",
                             'labels={"team":"retail"}', 'annotations={"note_again":"{payload.note}"}'],
        }
        env = dict(os.environ, SLUICE_OUT=folder + "/out")
        env.pop("SLUICE_PLUGIN_PATH", None)
        cls.runs = {}
        for fmt, sets in formats.items():
            args = [str(HOST), "test-plugin", "Webhook", "--batch", "1", "--quiet", "--input", folder + "/life.jsonl"]
            for s in sets:
                args += ["--set", s]
            cls.runs[fmt] = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.receiver.shutdown()
        cls.receiver.server_close()
        cls.folder.cleanup()

    def test_every_notification_was_delivered(self):
        for fmt, run in self.runs.items():
            self.assertEqual(run.returncode, 0, f"{fmt}: {run.stdout}{run.stderr}")
            if fmt != "alertmanager":
                self.assertIn(f"refreshes_skipped {len(LIFE_NASTY)}", run.stdout, fmt)

    def test_slack(self):
        messages = self.check_slack("/slack")
        self.assertEqual(len(messages), 3 * len(LIFE_NASTY), "refresh: nothing sent")
        headers = [m["blocks"][0]["text"]["text"] for m in messages]
        self.assertEqual(sum(h.startswith("Resolved: ") for h in headers), len(LIFE_NASTY))
        self.assertEqual(sum(h.startswith("Still firing: ") for h in headers), len(LIFE_NASTY))
        for m in messages:
            if m["blocks"][0]["text"]["text"].startswith("Resolved: "):
                self.assertIn("Fired for 42m, 06:00 → 06:42 UTC", m["blocks"][1]["text"]["text"])

    def test_teams(self):
        cards = self.check_schema("/teams", "teams", "adaptive-card-message.schema.json")
        self.assertEqual(len(cards), 3 * len(LIFE_NASTY))
        good = [b for c in cards for b in c["attachments"][0]["content"]["body"] if b.get("color") == "Good"]
        self.assertTrue(any(b["text"] == "Fired for 42m, 06:00 → 06:42 UTC" for b in good))
        self.check_schema("/teams-messagecard", "teams-messagecard", "messagecard.schema.json")

    def test_datadog(self):
        events = self.check_datadog("/datadog")
        self.assertEqual(len(events), 3 * len(LIFE_NASTY))
        by_key = {}
        for e in events:
            by_key.setdefault(e["aggregation_key"], []).append(e)
        self.assertEqual(len(by_key), len(LIFE_NASTY), "one aggregation key per incident")
        for incident in by_key.values():
            self.assertEqual([e["alert_type"] for e in incident], ["error", "error", "success"])
            self.assertTrue(incident[2]["title"].startswith("Resolved: "), incident[2]["title"])
            self.assertTrue(incident[2]["text"].startswith("Fired for 42m, 06:00 → 06:42 UTC"), incident[2]["text"][:80])

    def test_pagerduty(self):
        events = self.check_pagerduty("/pagerduty")
        self.assertEqual(len(events), 3 * len(LIFE_NASTY))
        by_key = {}
        for e in events:
            by_key.setdefault(e["dedup_key"], []).append(e)
        self.assertEqual(len(by_key), len(LIFE_NASTY), "one dedup_key per incident")
        for incident in by_key.values():
            self.assertEqual([e["event_action"] for e in incident], ["trigger", "trigger", "resolve"])
            self.assertEqual(incident[0]["payload"]["severity"], "critical")
            self.assertEqual(set(incident[2]), {"routing_key", "dedup_key", "event_action"})

    def test_alertmanager(self):
        alerts = self.check_alertmanager("/alertmanager/api/v2/alerts")
        self.assertEqual(len(alerts), 4 * len(LIFE_NASTY), "the refresh too")
        by_labels = {}
        for a in alerts:
            by_labels.setdefault(json.dumps(a["labels"], sort_keys=True), []).append(a)
        self.assertEqual(len(by_labels), len(LIFE_NASTY), "one label set per incident")
        now = datetime.datetime.now(datetime.timezone.utc)
        for incident in by_labels.values():
            self.assertEqual(incident[0]["labels"]["severity"], "critical")
            self.assertEqual([a["startsAt"] for a in incident], [START] * 4)
            for a in incident[:3]:
                self.assertGreater(datetime.datetime.fromisoformat(a["endsAt"]), now, "firing: endsAt ahead")
            self.assertEqual(incident[3]["endsAt"], END, "resolved: endsAt when it ended")



ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def free_port():
    """A port on 127.0.0.1 that can be bound now, below the range the kernel gives outgoing
    connections (/proc/sys/net/ipv4/ip_local_port_range), so that no connection can take it
    before the server started with it binds it (a port from bind(("127.0.0.1", 0)) is in
    that range). Falls back to bind(0) when that range starts too low."""
    import random
    import socket
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100 if low > 11000 else 0):
        port = random.randrange(10000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode("utf-8"))


def wait_for(what, condition, seconds=30):
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds} s for {what}")


class IncidentLifeThroughARun(Checks, unittest.TestCase):
    """One incident's whole life through `host run --follow`: a monitor (bad events per store
    over 5-minute windows of event time) fires, is renotified, is silenced from the CLI
    while the run goes on, and resolves — seen by a real Alertmanager (GET /api/v2/alerts)
    and by a receiver checking every PagerDuty body against the Events v2 schema."""

    def setUp(self):
        self.assertTrue(os.access(ALERTMANAGER, os.X_OK), "tools/setup-deps installs prometheus-alertmanager")
        self.receiver = Receiver()
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.folder = tempfile.TemporaryDirectory(prefix="sluice-incident-life-")
        d = self.folder.name
        os.makedirs(d + "/in")
        with open(d + "/alertmanager.yml", "w") as f:
            f.write("route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n")
        port = free_port()
        self.am_url = f"http://127.0.0.1:{port}"
        self.am = subprocess.Popen([ALERTMANAGER, f"--config.file={d}/alertmanager.yml", f"--storage.path={d}/am",
                                    f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready():
            try:
                return http_get(self.am_url + "/api/v2/status") is not None
            except Exception:
                return False
        wait_for("Alertmanager to start", ready)
        self.pipeline = d + "/pipeline.json"
        hook = lambda name, **p: {"name": name, "plugin": {"name": "Webhook", "properties": p}}
        with open(self.pipeline, "w") as f:
            json.dump({
                "name": "incident-life", "namespace": "retail", "batch": {"maxRecords": 1000, "maxDelayMs": 50},
                "state": {"path": d + "/state"}, "spool": {"path": d + "/spool"},
                "stages": [
                    {"name": "events", "plugin": {"name": "JSONLSource",
                                                  "properties": {"path": d + "/in", "follow": True, "pollMs": 20}}},
                    {"name": "quality", "plugin": {"name": "AlertRule", "properties": {
                        "when": "size(data_points) < 10", "payload": {"store_id": "store_id", "ts": "ts"}}},
                     "alerts": {"groupBy": ["store_id"], "aggregates": [{"name": "bad_events", "function": "count"}],
                                "window": {"sizeMs": 300000, "slideMs": 60000, "timeField": "ts"},
                                "condition": "bad_events >= 5", "recover": "bad_events < 2",
                                "renotifyMs": 600000, "severity": "critical"}},
                    hook("alertmanager", format="alertmanager", url=self.am_url, alertName="Store quality",
                         labels={"team": "retail"}),
                    hook("pagerduty", format="pagerduty", routingKey=ROUTING_KEY, endpoint=self.receiver.url + "/pagerduty",
                         rateLimit="0"),
                ],
                "connections": [{"from": "events", "to": "quality"},
                                {"from": "quality", "to": "alertmanager", "port": "alerts"},
                                {"from": "quality", "to": "pagerduty", "port": "alerts"}]}, f)
        self.env = dict(os.environ, SLUICE_OUT=d + "/out")
        self.env.pop("SLUICE_PLUGIN_PATH", None)
        # Its progress (one JSON line a batch) and its log go to files: a pipe nobody reads
        # could fill and stop it.
        self.out, self.err = open(d + "/progress.jsonl", "w"), open(d + "/host.log", "w")
        self.host = subprocess.Popen([str(HOST), "run", self.pipeline, "--progress", "json", "--summary-json", d + "/summary.json"],
                                     env=self.env, stdout=self.out, stderr=self.err)
        self.files = 0
        # An hour ago, on a minute: event time, in the past for Alertmanager.
        import time
        self.base = (int(time.time()) // 60 - 60) * 60_000

    def tearDown(self):
        if self.host.poll() is None:
            self.host.kill()
            self.host.wait()
        self.out.close()
        self.err.close()
        self.am.terminate()
        self.am.wait()
        self.receiver.shutdown()
        self.receiver.server_close()
        self.folder.cleanup()

    def send(self, events):
        """Events (store, seconds after base, bad) as a new file renamed into the followed folder."""
        self.files += 1
        d = self.folder.name
        with open(f"{d}/part.tmp", "w") as f:
            for store, seconds, bad in events:
                f.write(json.dumps({"store_id": store, "ts": self.base + seconds * 1000,
                                    "data_points": [1] * (3 if bad else 15)}) + "\n")
        os.rename(f"{d}/part.tmp", f"{d}/in/events-{self.files:03d}.jsonl")

    def pagerduty(self):
        return [json.loads(b) for _, b in self.receiver.bodies.get("/pagerduty", [])]

    def active_store7(self):
        alerts = http_get(self.am_url + "/api/v2/alerts?active=true&silenced=true&inhibited=true")
        return [a for a in alerts if a["labels"].get("store_id") == "store7" and a["status"]["state"] == "active"]

    def test_fire_renotify_silence_resolve(self):
        # 1. store7 sends 6 bad events in its first minute: it fires.
        self.send([("store7", s, True) for s in range(0, 60, 10)] + [("store1", 30, False)])
        wait_for("the trigger", lambda: len(self.pagerduty()) == 1)
        wait_for("store7 active in Alertmanager", lambda: len(self.active_store7()) == 1)
        firing = self.active_store7()[0]
        self.assertEqual(firing["labels"]["severity"], "critical")
        self.assertEqual(firing["labels"]["team"], "retail")
        # 2. Still bad eleven minutes later: renotified (renotifyMs 10 minutes of event time).
        self.send([("store7", 660 + s, True) for s in range(0, 60, 10)])
        wait_for("the renotification", lambda: len(self.pagerduty()) == 2)
        # 3. Silenced from the CLI while the run goes on; still bad 22 minutes in: held back.
        added = subprocess.run([str(HOST), "silence", "add", "--pipeline", self.pipeline, "--match", "store_id=store7",
                                "--for", "2h", "--comment", "maintenance"], env=self.env, capture_output=True, text=True)
        self.assertEqual(added.returncode, 0, added.stderr)
        self.assertEqual(self.host.poll(), None, "the run goes on")
        import time
        time.sleep(0.5)  # a running host reads the silences at every batch and every 200 ms
        self.send([("store7", 1320 + s, True) for s in range(0, 60, 10)])
        self.send([("store1", 1390, False)])  # a later batch: the one before was judged
        wait_for("the silenced renotification to be counted",
                 lambda: any('"silenced":1' in line for line in self.progress_lines()))
        self.assertEqual(len(self.pagerduty()), 2, "nothing sent while silenced")
        # 4. The store recovers (good events only, past the window): resolved, silence or not.
        self.send([("store7", 1800 + s, False) for s in range(0, 60, 10)])
        wait_for("the resolve", lambda: len(self.pagerduty()) == 3)
        wait_for("store7 gone from Alertmanager's active alerts", lambda: not self.active_store7())

        events = self.check_pagerduty("/pagerduty")
        self.assertEqual([e["event_action"] for e in events], ["trigger", "trigger", "resolve"])
        self.assertEqual(len({e["dedup_key"] for e in events}), 1, "one dedup_key for the incident")
        self.assertEqual(set(events[2]), {"routing_key", "dedup_key", "event_action"})
        self.host.terminate()
        self.host.wait(timeout=30)
        with open(self.folder.name + "/summary.json") as f:
            summary = json.load(f)
        quality = next(s for s in summary["stages"] if s["name"] == "quality")
        self.assertEqual((quality["alerts"]["firing"], quality["alerts"]["renotified"], quality["alerts"]["resolved"],
                          quality["alerts"]["silenced"]), (1, 1, 1, 1))

    def progress_lines(self):
        with open(self.folder.name + "/progress.jsonl") as f:
            return f.readlines()

if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"validators: {max(0, result.testsRun - failed)} passed, {failed} failed")
    sys.exit(1 if failed or not result.testsRun else 0)
