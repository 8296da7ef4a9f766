"""listmonk failures as the Airbyte error a user can act on: `config_error` for what only the user can fix,
`transient_error` for a listmonk that stayed away past the retry budget (Airbyte retries the sync), and
`system_error` for the rest, with listmonk's own words instead of the CDK's generic message."""

from __future__ import annotations

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from listmonk_client.errors import (
    AuthFailed,
    ConnectionFailed,
    EndpointNotFound,
    ImportTimedOut,
    ListmonkError,
    PermissionDenied,
    RetriesExhausted,
    TLSFailed,
)
from listmonk_client.preflight import ROLES_HINT


def traced(error: ListmonkError, url: str, doing: str) -> AirbyteTracedException:
    """The Airbyte error for `error`, raised while `doing` (e.g. "writing subscribers") against listmonk at `url`."""
    message, failure = _explain(error, url, doing)
    return AirbyteTracedException(message=message, internal_message=str(error), failure_type=failure)


def _explain(error: ListmonkError, url: str, doing: str) -> tuple[str, FailureType]:
    if isinstance(error, TLSFailed):
        return (f"Cannot connect to listmonk at {url} securely while {doing}: {error.message}. Fix the server's "
                "certificate (or trust its CA), or turn off TLS verification if you trust this server.",
                FailureType.config_error)
    if isinstance(error, (ConnectionFailed, RetriesExhausted, ImportTimedOut)):
        return (f"listmonk at {url} was unreachable or busy for longer than the retry budget while {doing} "
                f"({error}). Airbyte retries the sync; if this goes on, check that listmonk is running and "
                "reachable at this URL, or raise the retry budget.", FailureType.transient_error)
    if isinstance(error, AuthFailed):
        return (f"listmonk rejected the API user or token while {doing} ({error.message}). Check the API user "
                "name and token (listmonk Admin > Users).", FailureType.config_error)
    if isinstance(error, PermissionDenied):
        permission = f"the permission '{error.permission}'" if error.permission else "a permission"
        return (f"The API user lacks {permission}, needed for {doing} ({error.method} {error.path}). Grant it to "
                f"the user's role in {ROLES_HINT}.", FailureType.config_error)
    if isinstance(error, EndpointNotFound):
        return (f"listmonk at {url} has no {error.method} {error.path} (404) while {doing}: check that the URL is "
                "listmonk's base URL.", FailureType.config_error)
    return f"listmonk failed while {doing}: {error}", FailureType.system_error
