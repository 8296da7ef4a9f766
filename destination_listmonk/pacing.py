"""How many write calls run at once: fewer while listmonk pushes back (429, 502-504 retried by the client),
creeping back up to the configured ceiling once it stops."""

from __future__ import annotations


class AdaptiveConcurrency:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.current = self.ceiling

    def observe(self, pushed_back: bool) -> int:
        """Halve after a round with pushback, add one after a clean round (AIMD, as TCP does)."""
        if pushed_back:
            self.current = max(1, self.current // 2)
        else:
            self.current = min(self.ceiling, self.current + 1)
        return self.current
