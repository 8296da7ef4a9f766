"""One pooled HTTP session to listmonk: auth, timeouts, retries, error mapping, counters."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from listmonk_client import netfail
from listmonk_client.errors import (
    ConnectionRetriesExhausted,
    ListmonkError,
    RetriesExhausted,
    TLSFailed,
    error_for_status,
)
from listmonk_client.retry import RetryPolicy

logger = logging.getLogger("listmonk_client")

USER_AGENT = f"airbyte-listmonk/0.6.0 (listmonk_client; python-requests/{requests.__version__})"
# Enough of a non-JSON error body (a proxy's HTML page) to recognise it.
_MAX_BODY_IN_MESSAGE = 300

AuthMethod = Literal["token", "basic"]

# A body cut off mid-transfer (ChunkedEncodingError) is as transient as a refused connection.
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass
class ClientStats:
    """Counts of HTTP attempts: `requests` includes retries, `writes` are non-GET attempts."""

    requests: int = 0
    writes: int = 0
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class Transport:
    """Sends requests to one listmonk; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        username: str,
        token: str,
        *,
        auth_method: AuthMethod,
        verify_tls: bool,
        connect_timeout: float,
        read_timeout: float,
        retry: RetryPolicy,
        pool_size: int,
        sleep: Callable[[float], None],
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"listmonk URL must look like https://listmonk.example.com, got {base_url!r}")
        if auth_method not in ("token", "basic"):
            raise ValueError(f"auth_method must be 'token' or 'basic', got {auth_method!r}")
        self.base_url = base_url.strip().rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._token = token
        self._timeout = (connect_timeout, read_timeout)
        self._retry = retry
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats = ClientStats()

        self._session = requests.Session()
        # max_retries=0: urllib3 must not retry behind our back; the loop below owns the policy.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # requests would read the environment on every call (proxies, CA bundle, ~/.netrc: file system checks on
        # the hot path), and a ~/.netrc login for the host would replace the token header. It is read once here
        # instead, netrc aside.
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self.base_url)  # empty when NO_PROXY matches
        self._verify: bool | str = verify_tls and (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers["Accept"] = "application/json"
        if auth_method == "basic":
            self._session.auth = (username, token)
        else:
            self._session.headers["Authorization"] = f"token {username}:{token}"

    def close(self) -> None:
        self._session.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | str | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """A successful response, after retries; raises a ListmonkError otherwise.

        `files` contents must be bytes or str (not open files) so a retry re-sends the same body. `params` as a
        string is the query string, already encoded.
        """
        method = method.upper()
        url = self.base_url + path
        spent = 0.0  # time in requests plus time waited; counted by hand so an injected sleep still counts
        attempt = 0
        while True:
            attempt += 1
            self._count(method, retry=attempt > 1)
            started = time.monotonic()
            try:
                response = self._session.request(
                    method, url, params=params, json=json, files=files, data=data,
                    timeout=self._timeout, verify=self._verify, stream=stream,
                )
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not go away by retrying.
                raise TLSFailed(
                    method=method, path=path, status=None,
                    message=self._redact(self._network_reason(exc)),
                ) from exc
            except _NETWORK_ERRORS as exc:
                status: int | None = None
                reason = self._redact(self._network_reason(exc))
                retry_after = None
                failure: BaseException | None = exc
            else:
                if response.status_code < 400:
                    return response
                status = response.status_code
                reason = self._error_message(response)
                retry_after = response.headers.get("Retry-After")
                failure = None
                response.close()
            spent += time.monotonic() - started

            if self._retry.should_retry(status, attempt):
                wait = self._retry.delay(attempt, retry_after)
                if spent + wait <= self._retry.max_elapsed:
                    logger.warning(
                        "%s %s failed (%s): %s; retrying in %.2fs (attempt %d of %d)",
                        method, path, status, reason, wait, attempt + 1, self._retry.max_attempts,
                    )
                    self._sleep(wait)
                    spent += wait
                    continue
            raise self._final_error(method, path, status, reason, attempt) from failure

    @staticmethod
    def _final_error(method: str, path: str, status: int | None, reason: str, attempts: int) -> ListmonkError:
        if status is None:
            return ConnectionRetriesExhausted(
                method=method, path=path, status=None, message=f"{reason} (after {attempts} attempts)"
            )
        error = error_for_status(method=method, path=path, status=status, message=reason)
        if isinstance(error, RetriesExhausted):
            error.message = f"{reason} (after {attempts} attempts)"
        return error

    def _network_reason(self, exc: BaseException) -> str:
        return f"could not connect to {self.host}:{self.port}: {netfail.describe(exc, self._timeout[1])}"

    def _error_message(self, response: requests.Response) -> str:
        """listmonk's `{"message": ...}`, else the start of whatever body came back."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return self._redact(body["message"])
        text = " ".join(response.text.split())[:_MAX_BODY_IN_MESSAGE]
        return self._redact(text or response.reason or f"HTTP {response.status_code}")

    def _redact(self, text: str) -> str:
        # The token never goes into a URL or body, but a misbehaving proxy could echo a header back.
        return text.replace(self._token, "***") if self._token else text

    def _count(self, method: str, *, retry: bool) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            if method != "GET":
                self.stats.writes += 1
            if retry:
                self.stats.retries += 1
