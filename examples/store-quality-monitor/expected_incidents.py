#!/usr/bin/env python3
"""The incidents the store-quality-monitor pipeline should report, computed from its input
without Sluice (Python's standard library only), from the semantics docs/alerts.md gives
alerts with a life:

    python3 examples/store-quality-monitor/expected_incidents.py            # a table
    python3 examples/store-quality-monitor/expected_incidents.py --json     # one notification a line
    python3 examples/store-quality-monitor/expected_incidents.py --keep-firing-ms 0   # what if

What it implements, on its own:

- A record is bad when its `data_points` is a list of fewer than 10 elements (the seed
  job's test); a line that is not a JSON object is an error record and raises nothing.
- Time is event time: each bad event's `ts`. The watermark is the newest `ts` among the
  records seen so far (the stage's input; bad or not), moved after each batch. A bad event
  whose last window ended before the watermark as it was before its batch is late: not
  counted.
- A store's window is made of buckets of `slideMs` (a bucket holds the events with
  bucketStart(ts) = ts − ts mod slideMs). Judged at watermark W, the window is the buckets
  starting in [bucketStart(W) + slideMs − sizeMs, bucketStart(W) + slideMs): the last
  sizeMs, in whole slides, the slide holding W included.
- A store is alerting when bad_events >= 5 in its window, healthy when bad_events < 2;
  between the two it keeps its phase. Its life: inactive → firing (at once: forMs 0) →
  recovering (healthy, `since`) → resolved when healthy for keepFiringMs without a break
  (endsAt = since + keepFiringMs); alerting or not healthy again while recovering: still
  firing, the same incident. While firing, renotified every renotifyMs of event time.
- The judgement happens after each batch, at the watermark, for every store the monitor
  holds (one with a non-empty window or an open incident). So the times depend on where
  the batches end: a batch is `batch.maxRecords` records read in file order. A malformed
  line is not a record: the source's read that met it is followed by a read of as many
  lines as the batch still lacks, and a read that brings no record at all ends the batch
  (the host's rule for "nothing more right now").

The timing settings (window, keepFiringMs, renotifyMs, forMs, batch.maxRecords) are read
from pipeline.json, each may be overridden; the condition, the recover expression and the
rule's test must be the ones implemented here, or the script stops and says so.
"""
import argparse
import glob
import json
import os
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_POINTS, FIRE_AT, HEALTHY_BELOW = 10, 5, 2
IMPLEMENTED = {"when": "size(data_points) < 10", "condition": "bad_events >= 5", "recover": "bad_events < 2"}


def parse_ts(text):
    """ISO 8601 with Z or an offset, or milliseconds since 1970, to milliseconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text // 1)
    if not isinstance(text, str):
        return None
    try:
        return int(float(text) // 1)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    return int(round(t.timestamp() * 1000))


def iso(ms):
    s, milli = divmod(ms, 1000)
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{milli:03d}Z"


def settings(pipeline_path, overrides):
    p = json.load(open(pipeline_path))
    quality = next(s for s in p["stages"] if s.get("alerts", {}).get("condition"))
    alerts = quality["alerts"]
    found = {"when": quality["plugin"]["properties"].get("when"), "condition": alerts.get("condition"),
             "recover": alerts.get("recover")}
    for name, text in IMPLEMENTED.items():
        if found[name] != text:
            sys.exit(f"expected_incidents.py implements {name} {text!r}; {pipeline_path} says {found[name]!r}")
    window = alerts["window"]
    s = {
        "batch": p.get("batch", {}).get("maxRecords", 10000),
        "sizeMs": window["sizeMs"],
        "slideMs": window.get("slideMs", window["sizeMs"]),
        "allowedLatenessMs": window.get("allowedLatenessMs", 0),
        "forMs": alerts.get("forMs", 0),
        "keepFiringMs": alerts.get("keepFiringMs", 0),
        "renotifyMs": alerts.get("renotifyMs", 0),
    }
    if s["forMs"] != 0:
        sys.exit("expected_incidents.py implements forMs 0 only")
    for k, v in overrides.items():
        if v is not None:
            s[k] = v
    return s


def batches(lines, size):
    """The batches the source gives: lists of records (dicts), in order."""
    pos = 0
    while pos < len(lines):
        records, taken = [], 0
        while taken < size and pos < len(lines):
            before = taken
            chunk = lines[pos:pos + size - taken]
            pos += len(chunk)
            for line in chunk:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict):
                    records.append(r)
                    taken += 1
            if before > 0 and taken == before:
                break
        yield records


class Store:
    def __init__(self):
        self.buckets = {}      # bucket start -> [bad events, fewest points]
        self.phase = "inactive"
        self.starts = self.notified = self.since = None
        self.incident = 0


def run(lines, s):
    size, slide, late_ms = s["sizeMs"], s["slideMs"], s["allowedLatenessMs"]
    keep, renotify = s["keepFiringMs"], s["renotifyMs"]
    def bucket(t):
        return t - t % slide
    stores, notices = {}, []
    watermark, late = None, 0
    for records in batches(lines, s["batch"]):
        before = watermark
        for r in records:
            points = r.get("data_points")
            if not (isinstance(points, list) and len(points) < MIN_POINTS):
                continue
            t = parse_ts(r.get("ts"))
            if t is None:
                continue
            store = stores.setdefault(str(r.get("store_id")), Store())
            if before is not None and bucket(t) + size + late_ms <= before:
                late += 1
                continue
            b = store.buckets.setdefault(bucket(t), [0, None])
            b[0] += 1
            b[1] = len(points) if b[1] is None else min(b[1], len(points))
        times = [t for t in (parse_ts(r.get("ts")) for r in records) if t is not None]
        if times:
            watermark = max(times) if watermark is None else max(watermark, max(times))
        if watermark is None:
            continue
        end = bucket(watermark) + slide
        for name in sorted(stores):
            st = stores[name]
            inside = [v for start, v in st.buckets.items() if end - size <= start < end]
            bad = sum(v[0] for v in inside)
            fewest = min((v[1] for v in inside), default=None)
            alerting, healthy = bad >= FIRE_AT, bad < HEALTHY_BELOW
            def notice(kind, **more):
                notices.append(dict(store_id=name, notification=kind, status="resolved" if kind == "resolved" else "firing",
                                    incident=st.incident, startsAt=st.starts, timestamp=watermark, bad_events=bad,
                                    min_points=fewest, **more))
            if st.phase == "inactive" and alerting:
                st.phase, st.starts, st.notified = "firing", watermark, watermark
                notice("firing")
            elif st.phase == "firing":
                if healthy and not alerting:
                    st.phase, st.since = "recovering", watermark
                elif renotify and watermark - st.notified >= renotify:
                    st.notified = watermark
                    notice("renotify")
            elif st.phase == "recovering" and (alerting or not healthy):
                st.phase = "firing"
                if renotify and watermark - st.notified >= renotify:
                    st.notified = watermark
                    notice("renotify")
            if st.phase == "recovering" and watermark - st.since >= keep:
                notice("resolved", endsAt=st.since + keep)
                st.phase = "inactive"
                st.incident += 1
            st.buckets = {start: v for start, v in st.buckets.items() if start + size + late_ms > watermark}
        for name in [n for n, st in stores.items() if st.phase == "inactive" and not st.buckets]:
            del stores[name]   # a quiet store is forgotten: its next incident starts afresh
    return notices, late


def incidents(notices):
    """(store, startsAt) -> endsAt (None: still firing), in order of startsAt."""
    out = {}
    for n in notices:
        if n["notification"] == "firing":
            out[(n["store_id"], n["startsAt"])] = None
        elif n["notification"] == "resolved":
            out[(n["store_id"], n["startsAt"])] = n["endsAt"]
    return sorted(out.items(), key=lambda kv: (kv[0][1], kv[0][0]))


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--pipeline", default=os.path.join(HERE, "pipeline.json"))
    a.add_argument("--input", help="a JSONL file (default: the pipeline's data/*.jsonl, in name order)")
    a.add_argument("--batch", type=int, help="records per batch (default: the pipeline's batch.maxRecords)")
    a.add_argument("--keep-firing-ms", type=int, dest="keepFiringMs")
    a.add_argument("--renotify-ms", type=int, dest="renotifyMs")
    a.add_argument("--json", action="store_true", help="every notification, one JSON object a line")
    args = a.parse_args()
    s = settings(args.pipeline, {"batch": args.batch, "keepFiringMs": args.keepFiringMs, "renotifyMs": args.renotifyMs})
    files = [args.input] if args.input else sorted(glob.glob(os.path.join(os.path.dirname(args.pipeline), "data", "*.jsonl")))
    lines = [line for f in files for line in open(f).read().split("\n") if line != ""]
    notices, late = run(lines, s)
    if args.json:
        for n in notices:
            n = dict(n, startsAt=iso(n["startsAt"]), timestamp=iso(n["timestamp"]))
            if "endsAt" in n:
                n["endsAt"] = iso(n["endsAt"])
            print(json.dumps(n))
        return
    print(f"batches of {s['batch']} records; window {s['sizeMs'] // 1000} s sliding by {s['slideMs'] // 1000} s; "
          f"keepFiringMs {s['keepFiringMs']}, renotifyMs {s['renotifyMs']}; late events {late}")
    print(f"{'STORE':<8} {'FIRING AT':<25} {'RESOLVED AT':<25} FIRED FOR")
    for (store, starts), ends in incidents(notices):
        if ends is None:
            print(f"{store:<8} {iso(starts):<25} {'still firing':<25} -")
        else:
            m, sec = divmod((ends - starts) // 1000, 60)
            print(f"{store:<8} {iso(starts):<25} {iso(ends):<25} {m} min {sec} s")


if __name__ == "__main__":
    main()
