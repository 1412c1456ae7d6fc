#!/usr/bin/env python3
"""Writes the example's bundled data: an hour of store events, seeded (the same file each
time), to data/events.jsonl beside this script.

    python3 examples/store-quality-monitor/generate.py

30 stores (store01 … store30) each send an event every 20–40 s of event time, from
2026-11-21T06:00:00Z to 07:00:00Z, in time order:

    {"store_id":"store07","ts":"2026-11-21T06:12:41.386Z","data_points":[31,4,88]}

An event is bad when it has fewer than 10 data points. A healthy store sends a bad one now
and then (3%); a store in trouble mostly bad ones (80%). The troubles:

    store04  06:02–06:09 and again 06:44–06:50    two incidents
    store07  06:10–06:24                          one incident, resolves
    store13  06:15–06:27, a dip 06:27–06:33, 06:33–06:41
                                                  one incident: keepFiringMs holds the dip
    store21  06:38 to the end                     still firing when the data ends

Two lines are malformed (one cut short, one not JSON): the source sends them to its error
port. Only the standard library is used.
"""
import json
import os
import random

START = "2026-11-21T06:00:00"
HOUR_MS = 3_600_000
BASE_MS = 1_795_240_800_000  # 2026-11-21T06:00:00Z in milliseconds since 1970
STORES = [f"store{i:02d}" for i in range(1, 31)]
HEALTHY_BAD, TROUBLE_BAD = 0.03, 0.80

def minute(m):
    return int(m * 60_000)

# store -> [(from, to)] in ms after 06:00, the store is in trouble
TROUBLE = {
    "store04": [(minute(2), minute(9)), (minute(44), minute(50))],
    "store07": [(minute(10), minute(24))],
    "store13": [(minute(15), minute(27)), (minute(33), minute(41))],
    "store21": [(minute(38), HOUR_MS)],
}

def iso(ms):
    s, milli = divmod(ms, 1000)
    from datetime import datetime, timezone
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{milli:03d}Z"

def main():
    assert iso(BASE_MS) == START + ".000Z"
    rng = random.Random(22)
    events = []
    for store in STORES:
        t = rng.randrange(0, 30_000)
        while t < HOUR_MS:
            trouble = any(a <= t < b for a, b in TROUBLE.get(store, []))
            bad = rng.random() < (TROUBLE_BAD if trouble else HEALTHY_BAD)
            n = rng.randint(1, 9) if bad else rng.randint(10, 20)
            points = [rng.randrange(100) for _ in range(n)]
            events.append((t, store, points))
            t += rng.randrange(20_000, 40_000)
    events.sort()
    lines = [json.dumps({"store_id": s, "ts": iso(BASE_MS + t), "data_points": p}, separators=(",", ":"))
             for t, s, p in events]
    # Two malformed lines, as a real feed has: one cut short, one that is not JSON at all.
    lines.insert(len(lines) // 3, '{"store_id":"store11","ts":"2026-11-21T06:20:00.000Z","data_points":[3,1')
    lines.insert(2 * len(lines) // 3, "store19 2026-11-21T06:40:00Z 12 points")
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "events.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} lines ({len(events)} events, 2 malformed) in {folder}/events.jsonl")

if __name__ == "__main__":
    main()
