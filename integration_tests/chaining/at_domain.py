"""Passes an Airbyte source's messages through, moving each record's email to one domain and keeping a copy of
the records it passed. source-faker's users have addresses at real mail providers' domains (it offers no setting
for them); the chaining tests move them to their own run's domain, so they never touch an address a shared
listmonk may hold. Usage: at_domain.py DOMAIN RECORDS_FILE (stdin to stdout)."""

from __future__ import annotations

import json
import sys


def main() -> None:
    domain, records_path = sys.argv[1], sys.argv[2]
    with open(records_path, "a", encoding="utf-8") as records:
        for line in sys.stdin:
            message = json.loads(line) if line.startswith("{") else None
            if message and message.get("type") == "RECORD":
                data = message["record"]["data"]
                data["email"] = f"{str(data['email']).split('@')[0]}@{domain}"
                line = json.dumps(message) + "\n"
                records.write(json.dumps(data) + "\n")
            sys.stdout.write(line)


if __name__ == "__main__":
    main()
