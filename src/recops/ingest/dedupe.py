"""One stored copy per natural key: the first write wins; different content is a conflict.

Only key columns are scanned to find repeats (inside the batch, then in the lake); whole
records are read and compared only for the few keys that collide (decision 0003). Maps
are compared with their keys sorted, so key order in a JSON object does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recops.contract import FieldType, RecordKind
from recops.lake import Lake
from recops.lake.engine import file_list_sql
from recops.lake.sqltext import literal, quote


@dataclass(frozen=True)
class Dedupe:
    """Where the repeats of a batch are, as temp tables in the batch's connection.

    Attributes:
        dropped: table with ``_id`` of every valid record not to store (a repeat).
        conflicting: table with ``_id, detail`` of the repeats whose content differs.
        duplicates: repeats with equal content (dropped silently, counted).
        conflicts: repeats with different content (quarantined).
    """

    dropped: str
    conflicting: str
    duplicates: int
    conflicts: int


def find_repeats(con: duckdb.DuckDBPyConnection, kind: RecordKind, lake: Lake, staged: pa.Table) -> Dedupe:
    """Find repeated keys among the valid records of ``staged`` (registered as ``staged``).

    Expects a table ``bad(_id)`` of records that broke a rule (they take no part).
    """
    keys = ", ".join(quote(k) for k in kind.key)
    con.execute(f"CREATE TEMP TABLE vkeys AS SELECT _id, {keys} FROM staged ANTI JOIN bad USING (_id)")
    con.execute(
        "CREATE TEMP TABLE inner_rep AS SELECT _id, first_id FROM (SELECT _id, first_value(_id) OVER "
        f"(PARTITION BY {keys} ORDER BY _id) AS first_id FROM vkeys) WHERE _id <> first_id"
    )
    existing = _candidate_files(con, kind, lake)
    con.execute("CREATE TEMP TABLE lake_hits (_id BIGINT, file VARCHAR, frow BIGINT, batch VARCHAR)")
    if existing:
        con.execute(
            "INSERT INTO lake_hits SELECT v._id, e.filename, e.file_row_number, e._batch FROM "
            f"read_parquet({file_list_sql(existing)}, filename = true, file_row_number = true, "
            f"union_by_name = true, hive_partitioning = false) e JOIN vkeys v ON {_match('e', 'v', kind)} "
            "WHERE v._id NOT IN (SELECT _id FROM inner_rep)"
        )
    con.execute("CREATE TEMP TABLE dropped AS SELECT _id FROM inner_rep UNION ALL SELECT _id FROM lake_hits")
    con.execute("CREATE TEMP TABLE compared (_id BIGINT, same BOOLEAN, detail VARCHAR)")
    if _count(con, "dropped"):
        _compare(con, kind, staged)
    duplicates = _count(con, "compared WHERE same")
    conflicts = _count(con, "compared WHERE NOT same")
    con.execute("CREATE TEMP TABLE conflicting AS SELECT _id, detail FROM compared WHERE NOT same")
    return Dedupe("dropped", "conflicting", duplicates, conflicts)


def _compare(con: duckdb.DuckDBPyConnection, kind: RecordKind, staged: pa.Table) -> None:
    """Compare each repeat with the record it repeats (earlier in the batch, or stored)."""
    ids = con.execute("SELECT _id FROM dropped UNION SELECT first_id FROM inner_rep").to_arrow_table()
    rows = staged.filter(pc.is_in(staged.column("_id"), value_set=ids.column("_id")))
    con.register("rep_rows", rows)
    record = kind.record
    con.execute(
        f"INSERT INTO compared SELECT r._id, {_canon(kind, 'a')} IS NOT DISTINCT FROM {_canon(kind, 'b')}, "
        f"{literal(record + ' with this key came earlier in this batch (row ')} || (r.first_id & 4294967295) "
        f"|| ') with different content' FROM inner_rep r JOIN rep_rows a ON a._id = r._id "
        "JOIN rep_rows b ON b._id = r.first_id"
    )
    if not _count(con, "lake_hits"):
        return
    files = [row[0] for row in con.execute("SELECT DISTINCT file FROM lake_hits").fetchall()]
    con.execute(
        "CREATE TEMP TABLE stored_rows AS SELECT e.*, h._id AS _hit FROM "
        f"read_parquet({file_list_sql(files)}, "
        "filename = true, file_row_number = true, union_by_name = true, hive_partitioning = false) e "
        "JOIN lake_hits h ON h.file = e.filename AND h.frow = e.file_row_number"
    )
    con.execute(
        f"INSERT INTO compared SELECT a._id, {_canon(kind, 'a')} IS NOT DISTINCT FROM {_canon(kind, 'b')}, "
        f"{literal(record + ' with this key is stored already (batch ')} || b._batch "
        "|| ') with different content' "
        "FROM rep_rows a JOIN stored_rows b ON b._hit = a._id"
    )


def _candidate_files(con: duckdb.DuckDBPyConnection, kind: RecordKind, lake: Lake) -> list[str]:
    """Lake files that may hold a key of this batch (by date, when the key has the time)."""
    rows = lake.catalog.live_file_rows(kind.name)
    if kind.time_column in kind.key:
        col = quote(kind.time_column)
        found = con.execute(f"SELECT DISTINCT strftime({col}, '%Y-%m-%d') FROM vkeys").fetchall()
        dates = {d for (d,) in found}
        rows = [r for r in rows if r.date in dates]
    return [str(lake.data_dir / r.path) for r in rows]


def _match(a: str, b: str, kind: RecordKind) -> str:
    return " AND ".join(f"{a}.{quote(k)} IS NOT DISTINCT FROM {b}.{quote(k)}" for k in kind.key)


def _canon(kind: RecordKind, alias: str) -> str:
    """The record as one comparable value, map keys sorted."""
    parts: list[str] = []
    for name in kind.column_names:
        col = f"{alias}.{quote(name)}"
        field = next((f for f in kind.fields if name in (f.name, f.strings_column)), None)
        is_map = field is not None and (field.type.name.endswith("MAP") or name != field.name)
        if is_map and field is not None and field.type is not FieldType.CANDIDATES:
            col = f"map_from_entries(list_sort(map_entries({col})))"
        parts.append(col)
    return "(" + ", ".join(parts) + ")"


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0
