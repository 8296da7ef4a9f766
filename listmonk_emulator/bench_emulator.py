"""Quick emulator benchmark: seed N subscribers, time a 1,000-email `query=` lookup and an import.

Run: python -m listmonk_emulator.bench_emulator [--subscribers 1000000] [--import-rows 100000]
"""
from __future__ import annotations

import argparse
import json
import time

import requests

from listmonk_emulator.controller import EmulatorServer


def _timed(label: str, started: float) -> float:
    elapsed = time.monotonic() - started
    print(f"{label}: {elapsed:.2f}s", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    args = parser.parse_args()
    with EmulatorServer() as emu:
        session = requests.Session()
        session.headers["Authorization"] = f"token {emu.api_user}:{emu.token}"
        started = time.monotonic()
        emu.seed(args.subscribers, list_ids=[1])
        _timed(f"seed {args.subscribers:,} subscribers", started)

        step = max(args.subscribers // 1000, 1)
        emails = ",".join(f"'seed{i}@example.com'" for i in range(1, args.subscribers + 1, step)[:1000])
        for attempt in (1, 2):
            started = time.monotonic()
            response = session.get(f"{emu.url}/api/subscribers",
                                   params={"query": f"subscribers.email IN ({emails})", "per_page": "all"},
                                   timeout=600)
            response.raise_for_status()
            found = len(response.json()["data"]["results"])
            _timed(f"query 1,000 emails (run {attempt}, {found} found)", started)

        rows = "\n".join(f"imp{i}@example.com,Imported {i}" for i in range(args.import_rows))
        started = time.monotonic()
        response = session.post(f"{emu.url}/api/import/subscribers", timeout=600, files=[
            ("params", (None, json.dumps({"mode": "subscribe", "delim": ",", "lists": [1],
                                          "overwrite": True}))),
            ("file", ("bench.csv", ("email,name\n" + rows + "\n").encode(), "text/csv"))])
        response.raise_for_status()
        while True:
            status = session.get(f"{emu.url}/api/import/subscribers", timeout=60).json()["data"]
            if status["status"] != "importing":
                break
            time.sleep(0.05)
        _timed(f"import {args.import_rows:,} rows ({status['status']}, {status['imported']:,} imported)", started)


if __name__ == "__main__":
    main()
