"""A listmonk HTTP API client shared by the listmonk source and destination (knows nothing of Airbyte)."""

from listmonk_client.client import ListmonkClient
from listmonk_client.errors import (
    AuthFailed,
    Conflict,
    ConnectionFailed,
    ConnectionRetriesExhausted,
    EndpointNotFound,
    ImportTimedOut,
    ListmonkError,
    PermissionDenied,
    RequestRejected,
    ServerFailed,
    RetriesExhausted,
    TLSFailed,
)
from listmonk_client.models import (
    Bounce,
    Campaign,
    ImportStatus,
    MailingList,
    Profile,
    ServerInfo,
    Subscriber,
    Subscription,
)
from listmonk_client.preflight import PreflightReport, preflight
from listmonk_client.retry import RetryPolicy
from listmonk_client.sql import SqlExpr, attrib_path_sql, email_in, quote_literal, values_in
from listmonk_client.transport import ClientStats

__all__ = [
    "AuthFailed",
    "Bounce",
    "Campaign",
    "ClientStats",
    "Conflict",
    "ConnectionFailed",
    "ConnectionRetriesExhausted",
    "EndpointNotFound",
    "ImportStatus",
    "ImportTimedOut",
    "ListmonkClient",
    "ListmonkError",
    "MailingList",
    "PermissionDenied",
    "PreflightReport",
    "Profile",
    "RequestRejected",
    "ServerFailed",
    "RetriesExhausted",
    "RetryPolicy",
    "ServerInfo",
    "SqlExpr",
    "Subscriber",
    "Subscription",
    "TLSFailed",
    "attrib_path_sql",
    "email_in",
    "preflight",
    "quote_literal",
    "values_in",
]
