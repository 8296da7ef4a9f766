import gc
import sys

from destination_listmonk.destination import DestinationListmonk

# A sync allocates millions of short-lived, acyclic objects (records, plans). With the default thresholds the
# collector runs every 700 allocations and keeps rescanning the long-lived ones (airbyte-cdk, models): about a
# quarter of the connector's CPU in the benchmark. Cycles are still collected, just less often.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    gc.freeze()  # what is loaded by now lives as long as the process
    gc.set_threshold(*GC_THRESHOLDS)


def run() -> None:
    tune_gc()
    DestinationListmonk().run(sys.argv[1:])
