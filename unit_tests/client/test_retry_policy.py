"""RetryPolicy on its own: which failures are retried, and how long to wait."""

from __future__ import annotations

from email.utils import formatdate
from types import SimpleNamespace

import pytest

from listmonk_client import RetryPolicy

NETWORK_ERROR = None


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (429, True),
        (500, False),  # listmonk's 500 is a PostgreSQL error caused by the input: same answer next time
        (502, True),
        (503, True),
        (504, True),
        (NETWORK_ERROR, True),
    ],
)
def test_given_a_failure_status_then_policy_decides_retry_or_fatal(status: int | None, retried: bool) -> None:
    assert RetryPolicy().should_retry(status, attempt=1) is retried


def test_given_attempts_used_up_then_even_transient_failures_are_final() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(503, attempt=2)
    assert not policy.should_retry(503, attempt=3)
    assert not policy.should_retry(None, attempt=3)


def test_without_jitter_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [policy.delay(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert RetryPolicy(max_delay=7.0, jitter=False).delay(10_000) == 7.0


def test_with_jitter_delay_stays_between_zero_and_the_backoff_ceiling() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=True)
    delays = [policy.delay(3) for _ in range(200)]
    assert all(0.0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 1


def test_retry_after_seconds_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=10.0, jitter=False)
    assert policy.delay(1, "3") == 3.0
    assert policy.delay(1, "3600") == 10.0


def test_retry_after_http_date_is_turned_into_seconds_from_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # "Now" held still, so that no pause of the machine between formatting the date and reading it counts.
    now = 1_800_000_000.0
    monkeypatch.setattr("listmonk_client.retry.time", SimpleNamespace(time=lambda: now))
    policy = RetryPolicy(max_delay=60.0, jitter=False)
    assert policy.delay(1, formatdate(now + 5, usegmt=True)) == 5.0
    assert policy.delay(1, formatdate(now - 60, usegmt=True)) == 0.0


@pytest.mark.parametrize("garbage", ["", "soon", "nan", "inf", "-5", "Wed, 99 Foo 2026"])
def test_unreadable_retry_after_falls_back_to_backoff(garbage: str) -> None:
    assert RetryPolicy(base_delay=0.25, jitter=False).delay(1, garbage) == 0.25


@pytest.mark.parametrize("settings", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_elapsed": -1.0}])
def test_nonsense_settings_are_rejected(settings: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)
