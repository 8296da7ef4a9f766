"""The connectors' `check`: can we reach listmonk, log in, and do what the config asks?"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from listmonk_client.client import ListmonkClient
from listmonk_client.errors import (
    AuthFailed,
    ConnectionFailed,
    EndpointNotFound,
    ListmonkError,
    PermissionDenied,
    TLSFailed,
)
from listmonk_client.models import MailingList, Profile, ServerInfo

ROLES_HINT = "listmonk Admin > Users > User roles"


@dataclass
class PreflightReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    server: ServerInfo | None = None
    profile: Profile | None = None


def preflight(
    client: ListmonkClient,
    *,
    required_permissions: Collection[str] = (),
    list_ids: Collection[int] = (),
    list_names: Collection[str] = (),
) -> PreflightReport:
    """One actionable message per problem; stops at the first layer nothing above it can get past."""
    report = PreflightReport(ok=False)
    try:
        report.server = client.server_info()
        report.profile = _profile(client)
    except ListmonkError as error:
        report.problems.append(_fatal_message(client, error))
        return report

    if report.profile is not None:
        report.problems.extend(
            f"The API user lacks the permission '{permission}'. Grant it to the user's role in {ROLES_HINT}."
            for permission in sorted(set(required_permissions) - report.profile.permissions)
        )

    if list_ids or list_names:
        try:
            lists = client.all_lists()
        except PermissionDenied as error:
            report.problems.append(_permission_message(error, "read lists"))
        except ListmonkError as error:
            report.problems.append(f"Could not read the lists from listmonk: {error.message}")
        else:
            report.problems.extend(_list_problems(lists, list_ids, list_names))

    report.ok = not report.problems
    return report


def _profile(client: ListmonkClient) -> Profile | None:
    try:
        return client.profile()
    except EndpointNotFound:
        # listmonk before v4 has no users or roles, so there is nothing to check.
        return None


def _fatal_message(client: ListmonkClient, error: ListmonkError) -> str:
    if isinstance(error, TLSFailed):
        return (
            f"Cannot connect to listmonk securely, {error.message}. "
            "Fix the server's certificate (or trust its CA), or turn off TLS verification "
            "in the connector settings if you trust this server."
        )
    if isinstance(error, ConnectionFailed):
        return (
            f"Cannot reach listmonk, {error.message}. "
            "Check the URL and that listmonk is running and reachable from here."
        )
    if isinstance(error, AuthFailed):
        return (
            f"API user / token rejected by listmonk ({error.message}). "
            "Check the API user name and token (listmonk Admin > Users)."
        )
    if isinstance(error, PermissionDenied):
        return _permission_message(error, "read the server configuration")
    return f"listmonk at {client.base_url} did not answer as expected: {error}"


def _permission_message(error: PermissionDenied, doing: str) -> str:
    permission = f"'{error.permission}'" if error.permission else "a permission"
    return f"The API user lacks {permission} needed to {doing}. Grant it to the user's role in {ROLES_HINT}."


def _list_problems(
    lists: list[MailingList], list_ids: Collection[int], list_names: Collection[str]
) -> list[str]:
    known_ids = {found.id for found in lists}
    problems = [
        f"List id {list_id} does not exist in listmonk (or the API user cannot see it)."
        for list_id in sorted(set(list_ids) - known_ids)
    ]
    for name in dict.fromkeys(list_names):
        ids = sorted(found.id for found in lists if found.name == name)
        if not ids:
            problems.append(f"No list named '{name}' exists in listmonk (names are case-sensitive).")
        elif len(ids) > 1:
            problems.append(
                f"Several lists are named '{name}' (ids {', '.join(map(str, ids))}); "
                "configure the list by id or rename the duplicates in listmonk."
            )
    return problems
