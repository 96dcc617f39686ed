"""``POST /api/ingest/{kind}``: contract records over HTTP, through the file ingest pipeline.

Why a body becomes a file: the pipeline's JSON handling (a line that is not an object
breaks rule ``json``, a value of the wrong type breaks ``type`` / ``time_format``, each
per record, with line numbers) and its Parquet handling (stored form passed through,
other column types converted, wide feature rows folded into maps) live in
:func:`recops.ingest.pipeline.ingest_files`. Spooling the body to a private temporary
file and ingesting it with :func:`recops.ingest.pipeline.ingest_bodies` (the same batch
code, with the body's label as its source) keeps one code path: HTTP records meet the same
conversions, rules, natural-key dedupe, quarantine and atomic commit as ``recops ingest``,
so the same records give the same stored rows whichever way they came.

Bodies that arrive while a batch is being committed are committed together in the next
one (:mod:`recops.ingest.group`): the per-batch cost is paid once per group, and each
caller still gets an answer about its own body only.

* JSON (a list of records, or ``{"records": [...]}``) is written one record per line, so
  the ``row`` of a rejected record is its 1-based position in the list;
* JSON Lines is the body as sent (``row`` = line number);
* Parquet is the body as sent (``row`` = row number);
* Arrow IPC (stream or file) is written as Parquet (``row`` = row number).

Refused records carry ``http:<label>`` as their ``source`` in the ``quarantine`` table,
and a body is not recorded as an ingested source file (the same body may rightly come
again; natural keys keep it from storing anything twice). The answer lists the refused
records of its body (straight from the batch's pipeline), so a client
learns which records were refused and why without a second call. Re-posting a body stores nothing new: every
record's natural key is already in the lake, so it counts as a duplicate.

The body is streamed to disk with a size limit (413 beyond it) and the blocking ingest
runs in the threadpool, so a large batch never stalls the event loop.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from recops.contract import KINDS
from recops.errors import InvalidInput
from recops.ingest.group import GroupCommit
from recops.ingest.pipeline import Body, IngestReport
from recops.server.api._common import AUTH_RESPONSES, WS, Ingest, audit_write
from recops.server.tokens import Principal
from recops.workspace import Workspace

# The largest body accepted (bytes as received). A deployment that needs bigger batches
# sets ``app.state.ingest_max_body_bytes``; more records per call rarely helps throughput.
MAX_BODY_BYTES = 256 << 20
# How many refused records the answer lists; the counts always cover all of them.
MAX_REJECTED_LISTED = 1_000
# Spooled body bytes are handed to a worker thread in blocks of this size.
WRITE_BLOCK = 4 << 20

JSON_TYPES = ("application/json",)
JSONL_TYPES = (
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-lines",
)
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")
ARROW_STREAM_TYPES = ("application/vnd.apache.arrow.stream",)
ARROW_FILE_TYPES = ("application/vnd.apache.arrow.file",)
OCTET = "application/octet-stream"
# What the audit entry of a call records.
AUDITED = ("label", "format", "bytes", "rows_read", "rows_stored", "rows_duplicate", "rows_quarantined",
           "rows_conflict", "batches")  # fmt: skip
LABEL_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

router = APIRouter(tags=["ingest"], responses=AUTH_RESPONSES)


# ---------------------------------------------------------------- answer


class Rejected(BaseModel):
    """One refused record: where it was in the body and the rule it broke."""

    row: int = Field(description="1-based position in the body: list index, line or Parquet/Arrow row.")
    rule: str = Field(description="The rule broken: json, type, time_format, required, ..., conflict.")
    field: str | None = Field(description="The field at fault (the natural key for a conflict).")
    detail: str | None = Field(description="What was wrong.")


class IngestAnswer(BaseModel):
    """What the ingest of one body did, and which records it refused."""

    kind: str
    label: str = Field(description="The batch label (the `label` query parameter or a generated one).")
    source: str = Field(description="The `source` column of this body's rows in the `quarantine` table.")
    format: str = Field(description="How the body was read: json, jsonl, parquet, arrow.")
    bytes: int = Field(description="Body bytes received.")
    rows_read: int
    rows_stored: int = Field(description="New records committed to the lake.")
    rows_duplicate: int = Field(description="Records whose key was stored before (a replay stores 0).")
    rows_quarantined: int = Field(description="Records refused (rule violations and conflicts).")
    rows_conflict: int = Field(description="Refused because the key exists with different content.")
    quarantined_by_rule: dict[str, int]
    batches: list[str] = Field(description="Lake batch ids committed (the `_batch` column of stored rows).")
    rejected: list[Rejected] = Field(description=f"Refused records, by row (at most {MAX_REJECTED_LISTED}).")
    rejected_truncated: bool = Field(description="True when more records were refused than are listed.")


# ---------------------------------------------------------------- body handling


@dataclass(frozen=True)
class _Format:
    name: str  # json, jsonl, parquet, arrow-stream, arrow-file
    suffix: str  # of the spool file given to the pipeline


FORMATS = {
    "json": _Format("json", ".jsonl"),
    "jsonl": _Format("jsonl", ".jsonl"),
    "parquet": _Format("parquet", ".parquet"),
    "arrow-stream": _Format("arrow", ".parquet"),
    "arrow-file": _Format("arrow", ".parquet"),
}


def _declared_format(content_type: str) -> str | None:
    """The body format named by a Content-Type; None for octet-stream (sniffed later)."""
    media = content_type.split(";", 1)[0].strip().lower()
    for names, fmt in (
        (JSON_TYPES, "json"),
        (JSONL_TYPES, "jsonl"),
        (PARQUET_TYPES, "parquet"),
        (ARROW_STREAM_TYPES, "arrow-stream"),
        (ARROW_FILE_TYPES, "arrow-file"),
    ):
        if media in names:
            return fmt
    if media == OCTET:
        return None
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"unsupported Content-Type {content_type!r}; send application/json, application/x-ndjson, "
        "application/vnd.apache.parquet, application/vnd.apache.arrow.stream, or "
        "application/octet-stream holding Parquet or Arrow IPC",
    )


def _sniff(head: bytes) -> str:
    """The format of an octet-stream body from its magic bytes."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow-file"
    if head.startswith(b"\xff\xff\xff\xff"):
        return "arrow-stream"
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "application/octet-stream body is neither Parquet (PAR1) nor Arrow IPC; "
        "name the format in Content-Type",
    )


def _max_bytes(request: Request) -> int:
    return int(getattr(request.app.state, "ingest_max_body_bytes", MAX_BODY_BYTES))


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"body larger than {limit} bytes; split the records into several calls",
    )


async def _spool(request: Request, path: Path, limit: int) -> tuple[int, bytes]:
    """Stream the body to ``path`` (refusing more than ``limit`` bytes): (size, first bytes)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    head = b""
    pending: list[bytes] = []
    pending_bytes = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if len(head) < 8:
                head = (head + chunk)[:8]
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= WRITE_BLOCK:
                await run_in_threadpool(out.writelines, pending)
                pending, pending_bytes = [], 0
        if pending:
            await run_in_threadpool(out.writelines, pending)
    return size, head


def _json_to_lines(body: Path, target: Path) -> None:
    """A JSON list of records (or ``{"records": [...]}``) → one record per line.

    Each element is written as it was sent (a non-object element becomes a line the
    pipeline refuses under rule ``json``), so line n is list element n.
    """
    try:
        doc = json.loads(body.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON ({exc}); send a list of records, or JSON Lines") from None
    records = doc.get("records") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise InvalidInput('a JSON body is a list of records or an object {"records": [...]}')
    with target.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


def _arrow_to_parquet(body: Path, target: Path, *, stream: bool) -> None:
    """An Arrow IPC body → a Parquet file holding the same table (no compression: it is transient)."""
    try:
        with pa.memory_map(str(body)) as source:
            reader = pa.ipc.open_stream(source) if stream else pa.ipc.open_file(source)
            table = reader.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        kind = "stream" if stream else "file"
        raise InvalidInput(f"body is not a readable Arrow IPC {kind} ({exc})") from None
    pq.write_table(table, target, compression="none")


def _source_file(body: Path, fmt: str, spool: Path, label: str) -> Path:
    """The file the pipeline reads, named so its refused records say where they came from."""
    target = spool / f"http:{label}{FORMATS[fmt].suffix}"
    if fmt == "json":
        _json_to_lines(body, target)
    elif fmt in ("arrow-stream", "arrow-file"):
        _arrow_to_parquet(body, target, stream=fmt == "arrow-stream")
    else:
        body.rename(target)
    return target


# ---------------------------------------------------------------- ingest


def _rejected(report: IngestReport) -> tuple[list[Rejected], bool]:
    """The body's refused records by row (at most ``MAX_REJECTED_LISTED``), and whether cut."""
    table = report.refused
    if table is None or not table.num_rows:
        return [], False
    table = table.sort_by([("row", "ascending")])
    rows = table.slice(0, MAX_REJECTED_LISTED).to_pylist()
    return [Rejected(**row) for row in rows], table.num_rows > MAX_REJECTED_LISTED


_GROUPS_LOCK = threading.Lock()


def _group(request: Request, ws: Workspace, kind: str) -> GroupCommit:
    """The app's group committer for one record kind (made on first use)."""
    with _GROUPS_LOCK:
        groups: dict[str, GroupCommit] | None = getattr(request.app.state, "ingest_groups", None)
        if groups is None:
            groups = request.app.state.ingest_groups = {}
        if kind not in groups:
            groups[kind] = GroupCommit(ws.lake, kind)
        return groups[kind]


def _ingest(
    ws: Workspace,
    group: GroupCommit,
    principal: Principal,
    body: Path,
    fmt: str,
    size: int,
    label: str,
) -> IngestAnswer:
    """Convert the spooled body if needed, ingest it (grouped with concurrent bodies), audit, answer."""
    source = _source_file(body, fmt, body.parent, label)
    report = group.submit(Body(source, f"http:{label}"))
    rejected, truncated = _rejected(report)
    counts = report.to_dict()
    answer: dict[str, Any] = {
        "kind": report.kind,
        "label": label,
        "source": f"http:{label}",
        "format": FORMATS[fmt].name,
        "bytes": size,
        **{name: counts[name] for name in IngestAnswer.model_fields if name in counts},
    }
    audit_write(ws, principal, "ingest.http", report.kind, {name: answer[name] for name in AUDITED})
    return IngestAnswer(**answer, rejected=rejected, rejected_truncated=truncated)


def _label(given: str | None, principal: Principal) -> str:
    if given is not None:
        if not LABEL_OK.match(given):
            raise InvalidInput(
                f"label {given!r}: use 1 to 80 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return given
    who = re.sub(r"[^A-Za-z0-9._-]", "-", principal.name)[:40] or "token"
    return f"{who}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Records of the kind in the path, in one of these formats.",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "properties": {"records": {"type": "array", "items": {"type": "object"}}},
                            "required": ["records"],
                        },
                    ]
                },
                "example": [
                    {
                        "request_id": "r-1",
                        "ts": "2026-11-24T13:00:00Z",
                        "surface": "home_row",
                        "user_id": "u1",
                        "model": "ranker",
                        "model_version": "v1",
                        "status": "ok",
                        "latency_ms": 12.5,
                        "candidates": [{"item_id": "i1", "source": "trending", "score": 0.5, "position": 0}],
                    }
                ],
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One JSON record per line."}
            },
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "description": "Parquet or Arrow IPC."}
            },
        },
    }
}


@router.post(
    "/ingest/{kind}",
    response_model=IngestAnswer,
    summary="Ingest contract records (JSON, JSON Lines, Parquet, Arrow IPC)",
    openapi_extra=BODY_DOC,
    responses={
        400: {"description": "Unreadable body (not JSON / Parquet / Arrow), or a bad label."},
        404: {"description": "Unknown record kind."},
        413: {"description": f"Body over the size limit ({MAX_BODY_BYTES} bytes by default)."},
        415: {"description": "Unsupported Content-Type."},
    },
)
async def ingest_records(
    request: Request,
    kind: Annotated[
        str,
        PathParam(description=f"Record kind: {', '.join(KINDS)}.", json_schema_extra={"enum": list(KINDS)}),
    ],
    ws: WS,
    principal: Ingest,
    label: Annotated[
        str | None,
        Query(
            description="A name for this batch (e.g. the sending service and a sequence number); refused "
            "records carry `http:<label>` as their source. Generated when omitted.",
        ),
    ] = None,
) -> IngestAnswer:
    """Validate, deduplicate and store the records of one body as one atomic batch.

    The body goes through exactly the pipeline of `recops ingest`: the contract's rules,
    natural-key dedupe against the lake (re-posting the same body stores nothing new;
    a record whose key exists with different content is refused as a `conflict`), and
    quarantine for refused records. The answer returns after the batch is committed, with
    the counts and each refused record's row, rule, field and detail. Needs the `ingest`
    role; every call is audited (`ingest.http`).
    """
    if kind not in KINDS:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}"
        )
    if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "compressed bodies are not accepted; send them as is"
        )
    declared = _declared_format(request.headers.get("content-type", OCTET))
    batch_label = _label(label, principal)
    spool = Path(tempfile.mkdtemp(prefix="recops-http-"))
    try:
        body = spool / "body"
        size, head = await _spool(request, body, _max_bytes(request))
        if size == 0:
            raise InvalidInput("empty body; send records")
        fmt = declared or _sniff(head)
        group = _group(request, ws, kind)
        return await run_in_threadpool(_ingest, ws, group, principal, body, fmt, size, batch_label)
    finally:
        await run_in_threadpool(shutil.rmtree, spool, True)
