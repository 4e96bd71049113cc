"""The configured connector opened for one command (`edge pos`, `edge doctor`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from edge.config import Config
from edge.db import Database

from . import connector_for
from .base import PosConnector, PosPermanentError
from .secrets import DatabaseSecrets


@asynccontextmanager
async def pos_session(config: Config) -> AsyncIterator[PosConnector]:
    """The connector `[pos]` names, open; PosError when it cannot be built.

    A POS that rotates its refresh token (Lightspeed K) keeps it in the daemon's database,
    opened here too: the token this command is given back is the one the daemon uses next.
    """
    async with AsyncExitStack() as stack:
        secrets = None
        if config.pos.kind == "lightspeed_k":
            db = await stack.enter_async_context(Database(config.database.path))
            secrets = DatabaseSecrets(db)
        connector = connector_for(config.pos, secrets=secrets)
        if connector is None:
            raise PosPermanentError('no POS configured ([pos] kind = "none"): nothing is injected')
        yield await stack.enter_async_context(connector)
