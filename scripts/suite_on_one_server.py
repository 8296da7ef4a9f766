"""The end-to-end tests the way a maintainer runs them against a real listmonk (LISTMONK_URL): twice in a row
against one server that keeps every run's data, as listmonk v6.2 and as v5.1 (no PATCH, import with `overwrite`
only). A test that assumes an empty server, reuses another run's keys, or sets listmonk up with a call that
version lacks fails here before it fails on a maintainer's server.

    python scripts/suite_on_one_server.py [--runs 2] [--versions v6.2.0,v5.1.0] [pytest args...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from listmonk_emulator import EmulatorServer

SUITE = ["integration_tests/destination", "integration_tests/test_source_to_destination.py"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs in a row against each server, never reset")
    parser.add_argument("--versions", default="v6.2.0,v5.1.0", help="listmonk versions the local server answers as")
    args, pytest_args = parser.parse_known_args(argv)
    for version in args.versions.split(","):
        with EmulatorServer(version=version) as server:
            env = {**os.environ, "LISTMONK_URL": server.url, "LISTMONK_USER": server.api_user,
                   "LISTMONK_TOKEN": server.token}
            for run in range(1, args.runs + 1):
                print(f"\n== end-to-end tests against one listmonk {version} as a real server, run {run} of "
                      f"{args.runs}, nothing reset in between", flush=True)
                done = subprocess.run([sys.executable, "-m", "pytest", "-q", *SUITE, *pytest_args],
                                      env=env, check=False)
                if done.returncode != 0:
                    return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
