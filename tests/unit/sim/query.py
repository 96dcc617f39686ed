"""SQL over a simulated world's tables (DuckDB, UTC session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from recops.sim import World

_CONNECTIONS: dict[int, duckdb.DuckDBPyConnection] = {}


def _connection(world: World) -> duckdb.DuckDBPyConnection:
    con = _CONNECTIONS.get(id(world))
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for name, table in world.tables.items():
            con.register(name, table)
        con.execute(
            """CREATE TABLE per_request AS
               SELECT request_id, count(*) FILTER (WHERE event = 'impression') AS imps,
                      count(*) FILTER (WHERE event = 'click') AS clicks
               FROM outcomes GROUP BY 1"""
        )
        _CONNECTIONS[id(world)] = con
    return con


def sql(world: World, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query``; ``?`` placeholders take ``params``."""
    return _connection(world).execute(query, list(params)).fetchall()


def ctr(world: World, where: str, *params: Any) -> tuple[float, int]:
    """Clicks per impression of the requests matching ``where`` (alias r), and clicks."""
    [(clicks, imps)] = sql(
        world,
        "SELECT sum(p.clicks), sum(p.imps) FROM requests r JOIN per_request p USING (request_id) "
        f"WHERE {where}",
        *params,
    )
    return float(clicks) / float(imps), int(clicks)


def at(text: str) -> datetime:
    """An RFC 3339 time from the ground truth as an aware datetime."""
    return datetime.fromisoformat(text)
