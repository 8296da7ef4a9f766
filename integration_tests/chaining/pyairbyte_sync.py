"""One sync through PyAirbyte, from a local source executable straight into destination-listmonk's executable
(no cache in between, as Airbyte's platform pipes them). Runs in the PyAirbyte venv; the job is a JSON file:
{source_name, source_executable, source_config, stream, destination_executable, destination_config}."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import airbyte as ab


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    source = ab.get_source(job["source_name"], config=job["source_config"],
                           local_executable=job["source_executable"], streams=[job["stream"]])
    destination = ab.get_destination("destination-listmonk", config=job["destination_config"],
                                      local_executable=job["destination_executable"])
    destination.write(source, cache=False, state_cache=False)


if __name__ == "__main__":
    main()
