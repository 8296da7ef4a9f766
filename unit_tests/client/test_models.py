"""listmonk's JSON as models: versions, permissions, unknown fields and nulls."""

from __future__ import annotations

import pytest

from listmonk_client import MailingList, Profile, ServerInfo, Subscriber

SUBSCRIBER = {
    "id": 1, "created_at": "2026-11-27T03:50:20.082527Z", "updated_at": "2026-11-27T03:50:20.082527Z",
    "uuid": "u-1", "email": "john@example.com", "name": "John Doe",
    "attribs": {"city": "Bengaluru", "plan": {"tier": "pro"}}, "status": "enabled",
    "lists": [{
        "subscription_status": "unconfirmed", "subscription_created_at": "2026-11-27T03:50:20.082527+00:00",
        "subscription_updated_at": "2026-11-27T03:50:20.082527+00:00", "subscription_meta": {},
        "id": 1, "uuid": "l-1", "name": "Default list", "type": "private", "optin": "single",
        "status": "active", "tags": ["test"], "description": "", "created_at": "x", "updated_at": "y",
    }],
    "some_future_field": 7,
}


@pytest.mark.parametrize(
    ("version", "parsed", "patch", "split_overwrite"),
    [
        ("v6.2.0", (6, 2, 0), True, True),
        ("v6.1.0", (6, 1, 0), True, True),
        ("v6.0.3", (6, 0, 3), False, True),
        ("v5.1.0", (5, 1, 0), False, False),
        ("v6.2.0-beta", (6, 2, 0), True, True),
        ("6.3", (6, 3, 0), True, True),
        ("dev build", (0, 0, 0), False, False),
    ],
)
def test_server_version_decides_capabilities(
    version: str, parsed: tuple[int, int, int], patch: bool, split_overwrite: bool
) -> None:
    info = ServerInfo(version=version)
    assert info.version_tuple == parsed
    assert info.supports_patch is patch
    assert info.supports_split_overwrite is split_overwrite


def test_subscriber_keeps_timestamps_as_sent_and_unknown_fields() -> None:
    subscriber = Subscriber.model_validate(SUBSCRIBER)
    assert subscriber.created_at == "2026-11-27T03:50:20.082527Z"
    assert subscriber.lists[0].subscription_created_at == "2026-11-27T03:50:20.082527+00:00"
    assert subscriber.lists[0].subscription_status == "unconfirmed"
    assert subscriber.model_dump()["some_future_field"] == 7
    assert subscriber.lists[0].model_dump()["created_at"] == "x"


def test_minimal_lists_with_null_counts_and_tags_still_parse() -> None:
    found = MailingList.model_validate({"id": 3, "name": "n", "tags": None, "subscriber_statuses": None})
    assert found.tags == []
    assert found.subscriber_statuses is None


def test_profile_permissions_come_from_the_user_role() -> None:
    profile = Profile.model_validate(
        {"username": "apiuser", "user_role": {"id": 1, "permissions": ["subscribers:get", "lists:get_all"]}}
    )
    assert profile.permissions == frozenset({"subscribers:get", "lists:get_all"})


def test_a_profile_without_a_role_has_no_permissions() -> None:
    assert Profile.model_validate({"username": "apiuser", "user_role": None}).permissions == frozenset()
