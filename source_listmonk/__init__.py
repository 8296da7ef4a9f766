"""Airbyte source for listmonk."""

from source_listmonk.source import SourceListmonk

__all__ = ["SourceListmonk"]
