"""A SecretStore in memory, for connector tests (the daemon keeps them in its database)."""

from __future__ import annotations


class MemorySecrets:
    """Saved secrets, and every value saved (to check a rotation was kept before use)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.saved: list[tuple[str, str]] = []

    async def load(self, name: str) -> str | None:
        """The secret last saved under `name`."""
        return self.values.get(name)

    async def save(self, name: str, value: str) -> None:
        """Keep it."""
        self.values[name] = value
        self.saved.append((name, value))
