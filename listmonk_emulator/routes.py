"""The /api route table: path, methods, handler and the permission listmonk demands for it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from werkzeug.routing import Map, Rule

from listmonk_emulator import (bulk, campaigns, import_api, lists, meta, subscriber_query,
                               subscribers)
from listmonk_emulator.context import Handler


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug syntax; `<id>` stays a string so the handler can answer `invalid ID`
    handler: Handler
    permission: Optional[str]
    min_version: tuple[int, int] = (0, 0)

    @property
    def pattern(self) -> str:
        """The route as listmonk's router spells it, used as the stats key."""
        return self.path.replace("<id>", ":id")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/health", meta.health, None),
    Route("GET", "/api/about", meta.about, None),
    Route("GET", "/api/config", meta.config, None),
    Route("GET", "/api/settings", meta.settings, "settings:get"),
    Route("GET", "/api/profile", meta.profile, None),
    Route("GET", "/api/roles/users", meta.get_roles, "roles:get"),
    Route("POST", "/api/roles/users", meta.create_role, "roles:manage"),
    Route("GET", "/api/users", meta.get_users, "users:get"),
    Route("POST", "/api/users", meta.create_user, "users:manage"),
    Route("DELETE", "/api/users/<id>", meta.delete_user, "users:manage"),
    Route("GET", "/api/lists", lists.query_lists, "lists:get_all"),
    Route("POST", "/api/lists", lists.create_list, "lists:manage_all"),
    Route("GET", "/api/lists/<id>", lists.get_list, "lists:get_all"),
    Route("PUT", "/api/lists/<id>", lists.update_list, "lists:manage_all"),
    Route("DELETE", "/api/lists/<id>", lists.delete_list, "lists:manage_all"),
    Route("GET", "/api/subscribers", subscriber_query.query_subscribers, "subscribers:get_all"),
    Route("GET", "/api/subscribers/export", subscriber_query.export_subscribers, "subscribers:get_all"),
    Route("POST", "/api/subscribers/query/delete", subscriber_query.delete_by_query, "subscribers:manage"),
    Route("DELETE", "/api/subscribers", subscribers.delete_subscribers, "subscribers:manage"),
    Route("POST", "/api/subscribers", subscribers.create_subscriber, "subscribers:manage"),
    Route("PUT", "/api/subscribers/lists", bulk.manage_lists, "subscribers:manage"),
    Route("PUT", "/api/subscribers/lists/<id>", bulk.manage_lists, "subscribers:manage"),
    Route("PUT", "/api/subscribers/blocklist", subscribers.blocklist_many, "subscribers:manage"),
    Route("GET", "/api/subscribers/<id>", subscribers.get_subscriber, "subscribers:get_all"),
    Route("PUT", "/api/subscribers/<id>", subscribers.put_subscriber, "subscribers:manage"),
    Route("PATCH", "/api/subscribers/<id>", subscribers.patch_subscriber, "subscribers:manage", (6, 1)),
    Route("DELETE", "/api/subscribers/<id>", subscribers.delete_subscriber, "subscribers:manage"),
    Route("PUT", "/api/subscribers/<id>/blocklist", subscribers.blocklist_one, "subscribers:manage"),
    Route("GET", "/api/subscribers/<id>/bounces", subscribers.subscriber_bounces, "subscribers:get_all"),
    Route("GET", "/api/import/subscribers", import_api.import_status, "subscribers:import"),
    Route("POST", "/api/import/subscribers", import_api.start_import, "subscribers:import"),
    Route("DELETE", "/api/import/subscribers", import_api.stop_import, "subscribers:import"),
    Route("GET", "/api/import/subscribers/logs", import_api.import_logs, "subscribers:import"),
    Route("GET", "/api/campaigns", campaigns.query_campaigns, "campaigns:get_all"),
    Route("GET", "/api/bounces", campaigns.query_bounces, "bounces:get"),
)


def build_map() -> Map:
    # One rule per (method, path) pair; the endpoint is the route's index in ROUTES.
    return Map(
        [Rule(r.path, endpoint=i, methods=[r.method]) for i, r in enumerate(ROUTES)],
        strict_slashes=False,
    )
