"""A local listmonk v6.2-compatible HTTP server backed by a real PostgreSQL, for tests and demos."""
from listmonk_emulator.controller import EmulatorError, EmulatorServer

__all__ = ["EmulatorError", "EmulatorServer"]
