"""The WSGI application: admin API, public health, then /api with stats, faults, auth and routing."""
from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Any, Iterable

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from listmonk_emulator import admin, interference
from listmonk_emulator.auth import authenticate
from listmonk_emulator.context import Ctx
from listmonk_emulator.routes import ROUTES, Route, build_map
from listmonk_emulator.state import EmulatorState
from listmonk_emulator.web import ApiError, error_response, json_response, ok

_log = logging.getLogger("listmonk_emulator")
_UNKNOWN = "404 unknown endpoint"


class EmulatorApp:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._map = build_map()

    def _match(self, request: Request) -> tuple[Route, dict[str, str]] | None:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            index, args = adapter.match(request.path, method=request.method)
        except (NotFound, MethodNotAllowed):
            return None
        route = ROUTES[index]
        if not self.state.version_at_least(*route.min_version):
            return None  # e.g. PATCH on v5.x: the route does not exist there
        return route, args

    def route_pattern(self, method: str, path: str) -> str:
        """`METHOD /api/pattern` for stats; unmatched paths count under their raw path."""
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "emulator",
                   "SERVER_PORT": "0", "wsgi.url_scheme": "http"}
        matched = self._match(Request(environ))
        return matched[0].pattern if matched else path

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as err:
            response = error_response(err.status, err.message)
        except Exception:  # answer like listmonk's generic error instead of dropping the request
            _log.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(500, "internal emulator error")
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith("/__emulator/"):
            return admin.handle(self.state, request)
        if request.path.rstrip("/") == "/health":
            return ok(True)
        if not request.path.startswith("/api/"):
            raise ApiError(404, _UNKNOWN)
        matched = self._match(request)
        self.state.stats.count(request.method, matched[0].pattern if matched else request.path)
        faults = self.state.faults
        delay = faults.latency_seconds()
        if delay:
            time.sleep(delay)
        injected = faults.take_status(request.method, request.path)
        if injected is not None:
            return self._injected(injected.status, injected.retry_after)
        user = authenticate(self.state.api_users, request)
        if matched is None:
            raise ApiError(404, _UNKNOWN)
        route, args = matched
        if route.permission:
            user.require(route.permission)
        response = route.handler(Ctx(request=request, user=user, state=self.state, path=args))
        self._answer_faults(request.method, request.path)
        return response

    def _answer_faults(self, method: str, path: str) -> None:
        """Faults between carrying a call out and answering it (see listmonk_emulator.faults)."""
        faults = self.state.faults
        after = faults.on_answer(method, path)
        if after.consent_change is not None:
            interference.apply(self.state.db, after.consent_change)
        if after.delay_seconds:
            time.sleep(after.delay_seconds)
        if after.hold_seconds is not None:
            faults.hold(after.hold_seconds)

    @staticmethod
    def _injected(status: int, retry_after: int | None) -> Response:
        response = json_response({"message": HTTPStatus(status).phrase}, status)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
