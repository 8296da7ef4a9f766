"""What a route handler gets: the request, the caller and the emulator's shared state."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from werkzeug.wrappers import Request, Response

from listmonk_emulator.auth import User
from listmonk_emulator.web import ApiError

if TYPE_CHECKING:
    from listmonk_emulator.state import EmulatorState


@dataclass
class Ctx:
    request: Request
    user: User
    state: "EmulatorState"
    path: dict[str, str] = field(default_factory=dict)

    def require_sql_query(self) -> None:
        """The handler-level check for raw SQL, worded (capital P) as listmonk words it."""
        if "subscribers:sql_query" not in self.user.permissions:
            raise ApiError(403, "Permission denied: subscribers:sql_query")


Handler = Callable[[Ctx], Response]
