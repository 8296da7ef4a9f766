"""The source's streams."""

from source_listmonk.streams.simple import Bounces, Campaigns, Lists
from source_listmonk.streams.subscribers import Subscribers
from source_listmonk.streams.subscriptions import Subscriptions

__all__ = ["Bounces", "Campaigns", "Lists", "Subscribers", "Subscriptions"]
