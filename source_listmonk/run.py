"""Console entry point `source-listmonk`."""

import gc
import sys

from source_listmonk.entrypoint import launch
from source_listmonk.source import SourceListmonk


def run() -> None:
    # The objects made by importing the CDK live as long as the process: freezing them keeps every collection
    # from walking them again. A page of subscribers is some 300,000 containers, without cycles, freed by
    # reference counting once emitted: collecting every 700 new containers walked each page many times over.
    gc.freeze()
    gc.set_threshold(100_000, 50, 20)
    launch(SourceListmonk(), sys.argv[1:])
