#!/usr/bin/env python3
"""Times `source-listmonk read` of `subscribers` (full refresh) and of `subscriptions` (incremental, nothing
changed since the previous read) against the local server seeded with N subscribers, or against --url.

    python scripts/bench_source.py --count 100000 [--page-size 1000,5000]

Each read runs the console script in a child process with its output to /dev/null, as Airbyte runs it (the
CDK serialising every message included); peak RSS is the child's. On the local server the client and the
server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

SCRIPT = Path(sys.executable).with_name("source-listmonk")


def catalog(stream: str, incremental: bool) -> dict[str, Any]:
    mode = "incremental" if incremental else "full_refresh"
    return {"streams": [{
        "stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": mode, "destination_sync_mode": "append",
    }]}


def read(workdir: Path, cfg: dict[str, Any], stream: str, incremental: bool,
         state: Optional[list[Any]] = None) -> tuple[dict[str, Any], list[Any]]:
    """Runs one read; returns its figures and the last STATE messages it emitted (per stream)."""
    (workdir / "config.json").write_text(json.dumps(cfg))
    (workdir / "catalog.json").write_text(json.dumps(catalog(stream, incremental)))
    args = [str(SCRIPT), "read", "--config", str(workdir / "config.json"), "--catalog", str(workdir / "catalog.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    out = workdir / "out.jsonl"
    started = time.perf_counter()
    with open(out, "wb") as handle:
        child = subprocess.Popen(args, stdout=handle)
        # wait4: this child's own CPU and peak RSS (the local server's PostgreSQL is a child too).
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"source-listmonk read failed ({status}); output in {out}")
    records, states = 0, {}
    with open(out, "rb") as handle:
        for line in handle:
            message = json.loads(line)
            if message["type"] == "RECORD":
                records += 1
            elif message["type"] == "STATE":
                state = message["state"]
                states[json.dumps(state.get("stream", {}).get("stream_descriptor"))] = state
    figures = {"stream": stream, "incremental": incremental, "records": records, "wall_s": round(wall, 2),
               "rows_per_s": round(records / wall) if wall else 0,
               "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024)}
    return figures, list(states.values())


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="subscribers seeded on the local server")
    parser.add_argument("--page-size", default="1000", help="comma-separated page sizes to compare")
    parser.add_argument("--url", default=os.environ.get("LISTMONK_URL"))
    parser.add_argument("--user", default=os.environ.get("LISTMONK_USER"))
    parser.add_argument("--token", default=os.environ.get("LISTMONK_TOKEN"))
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.page_size.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.url:
            target = {"url": args.url, "username": args.user, "token": args.token}
            server = None
        else:
            from listmonk_emulator import EmulatorServer

            server = EmulatorServer().__enter__()
            server.seed(args.count, list_ids=(1, 2))
            target = {"url": server.url, "username": server.api_user, "token": server.token}
        try:
            for size in sizes:
                cfg = {**target, "page_size": size}
                figures, _ = read(workdir, cfg, "subscribers", incremental=False)
                rows.append({"page_size": size, **figures})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            cfg = {**target, "page_size": sizes[-1], "lookback_seconds": 0}
            _, states = read(workdir, cfg, "subscriptions", incremental=True)
            figures, _ = read(workdir, cfg, "subscriptions", incremental=True, state=states)
            rows.append({"page_size": sizes[-1], "read": "again, nothing changed", **figures})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    print("| stream | mode | page size | records | wall s | rows/s | client CPU s | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mode = "incremental, nothing changed" if row.get("read") else ("incremental" if row["incremental"] else "full")
        print(f"| {row['stream']} | {mode} | {row['page_size']:,} | {row['records']:,} | {row['wall_s']} | "
              f"{row['rows_per_s']:,} | {row['client_cpu_s']} | {row['peak_rss_mib']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
