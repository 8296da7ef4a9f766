"""Console entry point `source-listmonk`."""

import sys

from airbyte_cdk.entrypoint import launch

from source_listmonk.source import SourceListmonk


def run() -> None:
    launch(SourceListmonk(), sys.argv[1:])
