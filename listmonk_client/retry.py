"""When and how long to wait before retrying a listmonk call."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from listmonk_client.errors import RETRYABLE_STATUSES

# Beyond this the exponent only overflows; max_delay caps the result long before.
_MAX_EXPONENT = 32
# Plain digits only: float() would also accept "nan" and "inf".
_SECONDS = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry 429/502/503/504 and network errors with capped exponential backoff.

    500 is not retried: listmonk uses it for PostgreSQL errors caused by the input
    (bad enum, duplicate email on PUT), which fail the same way every time.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_elapsed: float = 120.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_elapsed) < 0:
            raise ValueError("delays must not be negative")

    def should_retry(self, status: int | None, attempt: int) -> bool:
        """`status` None means a network error; `attempt` counts the attempts already made."""
        if attempt >= self.max_attempts:
            return False
        return status is None or status in RETRYABLE_STATUSES

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(max(attempt - 1, 0), _MAX_EXPONENT))
        # Full jitter spreads the concurrent writers of one destination apart.
        return random.uniform(0.0, ceiling) if self.jitter else ceiling


# A budget is spent in time, not attempts: this many only stops a runaway loop (full jitter draws about half of
# each ceiling, so 100 attempts take minutes).
_BUDGET_ATTEMPTS = 100


def retry_for(seconds: float) -> RetryPolicy:
    """Retries a call until `seconds` have gone into it (attempts and waits): a listmonk that restarts, or a proxy
    answering 502/503 meanwhile, is waited for that long. Waits stay under 10 s, so a server that is back is
    noticed within seconds."""
    return RetryPolicy(max_attempts=_BUDGET_ATTEMPTS, base_delay=0.5, max_delay=10.0, max_elapsed=seconds)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.match(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)
