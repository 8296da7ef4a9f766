from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from listmonk_client import ListmonkClient, RetryPolicy

from .fake_server import FakeListmonk

TOKEN = "s3cr3t-T0KEN-value"
USER = "apiuser"


class RecordingSleep:
    """Stands in for time.sleep: remembers the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def fast_policy(**overrides: Any) -> RetryPolicy:
    settings: dict[str, Any] = {"max_attempts": 4, "base_delay": 0.01, "max_delay": 1.0, "max_elapsed": 30.0, "jitter": False}
    return RetryPolicy(**{**settings, **overrides})


@pytest.fixture
def server() -> Iterator[FakeListmonk]:
    with FakeListmonk() as fake:
        yield fake


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(server: FakeListmonk, sleep: RecordingSleep) -> Iterator[Callable[..., ListmonkClient]]:
    """Builds clients against the fake server with a fast, jitter-free retry policy."""
    made: list[ListmonkClient] = []

    def build(**kwargs: Any) -> ListmonkClient:
        settings: dict[str, Any] = {"retry": fast_policy(), "sleep": sleep, "read_timeout": 2.0, "connect_timeout": 2.0}
        client = ListmonkClient(kwargs.pop("base_url", server.url), USER, TOKEN, **{**settings, **kwargs})
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ListmonkClient]) -> ListmonkClient:
    return make_client()
