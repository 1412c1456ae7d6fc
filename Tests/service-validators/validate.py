"""The service validators as tests: the real host posts alerts made of the nastiest payloads
to a real HTTP server on 127.0.0.1 through every Webhook format, and every body that arrives
is checked with the services' own validators — datadog-api-client's models, slack_sdk's
Block Kit models (their length checks included), an Adaptive Card schema, a PagerDuty
Events v2 schema — and the limits each service counts in code points or bytes.

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


class ServiceValidators(unittest.TestCase):
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
            for msg in self.documents(path, "slack"):
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

    def assert_escaped(self, text):
        """Every & starts an escape, and no < or > is left bare: no @channel from a payload."""
        for i, c in enumerate(text):
            if c == "&":
                self.assertTrue(text.startswith(("&amp;", "&lt;", "&gt;"), i), f"a bare & at {i}: {text[max(0, i - 10):i + 10]!r}")
        self.assertNotIn("<!channel>", text)

    def test_teams_adaptive_card(self):
        schema = json.loads((HERE / "schemas" / "adaptive-card-message.schema.json").read_text())
        for msg in self.documents("/teams", "teams"):
            jsonschema.validate(msg, schema)

    def test_teams_message_card(self):
        schema = json.loads((HERE / "schemas" / "messagecard.schema.json").read_text())
        for msg in self.documents("/teams-messagecard", "teams-messagecard"):
            jsonschema.validate(msg, schema)

    def test_datadog_events(self):
        for path in ["/datadog", "/datadog-pages", "/datadog-blank"]:
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
            if path == "/datadog-pages":
                self.assertGreater(len(events), len(NASTY), "the long texts were paginated")

    def test_pagerduty_events(self):
        schema = json.loads((HERE / "schemas" / "pagerduty-events-v2.schema.json").read_text())
        events = self.documents("/pagerduty", "pagerduty") + self.documents("/pagerduty-blank", "pagerduty")
        self.assertEqual(len(events), 2 * len(NASTY))
        for e in events:
            jsonschema.validate(e, schema)
            datetime.datetime.fromisoformat(e["payload"]["timestamp"])
            self.assertLessEqual(code_points(e["payload"]["source"]), 255)
            self.assertTrue(e["payload"]["summary"].strip() and e["payload"]["source"].strip(), "PagerDuty needs both")

    def test_alertmanager_alerts(self):
        schema = json.loads((HERE / "schemas" / "alertmanager-postable-alerts.schema.json").read_text())
        alerts = [a for doc in self.documents("/alertmanager/api/v2/alerts", "alertmanager") for a in doc]
        self.assertEqual(len(alerts), len(NASTY))
        for a in alerts:
            jsonschema.validate([a], schema)
            starts = datetime.datetime.fromisoformat(a["startsAt"])
            ends = datetime.datetime.fromisoformat(a["endsAt"])
            self.assertLess(starts, ends)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"validators: {max(0, result.testsRun - failed)} passed, {failed} failed")
    sys.exit(1 if failed or not result.testsRun else 0)
