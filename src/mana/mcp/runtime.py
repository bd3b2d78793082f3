"""What the MCP app's lifespan opens and the request path uses (database, JWKS keys)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.mcp.jwks import JwksKeyCache


class McpRuntime:
    """Filled in by the lifespan; the middleware and the tool handlers hold this object from
    the moment the app is built, and read its resources per request."""

    def __init__(self) -> None:
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._reader: async_sessionmaker[AsyncSession] | None = None
        self._keys: JwksKeyCache | None = None

    def open(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        reader: async_sessionmaker[AsyncSession],
        keys: JwksKeyCache,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._reader = reader
        self._keys = keys

    def close(self) -> None:
        self._sessionmaker = None
        self._reader = None
        self._keys = None

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._sessionmaker is None:
            raise RuntimeError("the MCP app is not running (its lifespan has not started)")
        return self._sessionmaker

    @property
    def reader(self) -> async_sessionmaker[AsyncSession]:
        """Sessions that only read (`mana.db.reads_only_engine`): read tools, the space check."""
        if self._reader is None:
            raise RuntimeError("the MCP app is not running (its lifespan has not started)")
        return self._reader

    @property
    def keys(self) -> JwksKeyCache:
        if self._keys is None:
            raise RuntimeError("the MCP app is not running (its lifespan has not started)")
        return self._keys
