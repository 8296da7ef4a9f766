import sys

from destination_listmonk.destination import DestinationListmonk


def run() -> None:
    DestinationListmonk().run(sys.argv[1:])
