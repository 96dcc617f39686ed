"""The contract rules on the stored form, as SQL over a staged Arrow table.

Written once for every transport: file ingest, SDK batches and HTTP bodies all reach
here in the stored form (``normalize.py`` converted them and flagged type errors in
``_tv``). The query returns only the records that break a rule, one row each with the
first rule broken, in this priority: ``json``/``type``/``time_format`` (from ``_tv``),
``required``, then per field ``allowed``, ``finite`` (NaN and infinities in a number),
``minimum``, then ``candidate``.
"""

from __future__ import annotations

from recops.contract import FieldType, RecordKind
from recops.lake.sqltext import literal, quote

CANDIDATE_PROBLEMS = (
    ("c.item_id IS NULL OR c.source IS NULL", "every candidate needs item_id and source"),
    ("c.position < 0", "candidate position must be >= 0 or null"),
    ("c.propensity <= 0 OR c.propensity > 1", "candidate propensity must be in (0, 1] or null"),
    ("NOT isfinite(c.score)", "candidate score must be a finite number or null"),
)


def _violation(rule: str, field: str, detail: str) -> str:
    return f"{{'rule': {literal(rule)}, 'field': {literal(field)}, 'detail': {detail}}}"


def scalar_case(kind: RecordKind) -> str:
    """A CASE giving the first scalar rule a stored record breaks (``_tv`` first), else NULL."""
    whens = ["WHEN _tv IS NOT NULL THEN _tv"]
    for f in kind.fields:
        if f.required:
            whens.append(
                f"WHEN {quote(f.name)} IS NULL THEN {_violation('required', f.name, literal('is required'))}"
            )
    for f in kind.fields:
        col = quote(f.name)
        if f.allowed:
            allowed = ", ".join(literal(a) for a in f.allowed)
            detail = f"'must be one of {', '.join(f.allowed)}, got ' || {col}"
            whens.append(f"WHEN {col} NOT IN ({allowed}) THEN {_violation('allowed', f.name, detail)}")
        if f.type is FieldType.NUMBER:  # NaN passes every comparison; infinity, every minimum
            detail = f"'must be a finite number, got ' || CAST({col} AS VARCHAR)"
            whens.append(f"WHEN NOT isfinite({col}) THEN {_violation('finite', f.name, detail)}")
        if f.minimum is not None:
            detail = f"'must be at least {f.minimum:g}, got ' || CAST({col} AS VARCHAR)"
            whens.append(f"WHEN {col} < {f.minimum} THEN {_violation('minimum', f.name, detail)}")
    return "CASE " + " ".join(whens) + " END"


def violations_sql(kind: RecordKind, staged: str) -> str:
    """SQL listing ``(_id, rule, field, detail)`` for every record of ``staged`` that breaks a rule.

    Args:
        kind: the record kind.
        staged: a relation in the stored form plus ``_id`` (unique per record) and ``_tv``.
    """
    scalar = f"SELECT _id, {scalar_case(kind)} AS v FROM {staged}"
    candidates = [f for f in kind.fields if f.type is FieldType.CANDIDATES]
    if not candidates:
        return f"SELECT _id, v.rule, v.field, v.detail FROM ({scalar}) WHERE v IS NOT NULL"
    col = quote(candidates[0].name)
    # Unnesting once and testing the flat candidates is several times faster than a list
    # comprehension per request (0.35 s vs 1.1 s per million 20-candidate requests here).
    problem = (
        "CASE " + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _) in enumerate(CANDIDATE_PROBLEMS)) + " END"
    )
    details = "[" + ", ".join(literal(d) for _, d in CANDIDATE_PROBLEMS) + "]"
    return (
        f"WITH s AS (SELECT _id, v FROM ({scalar}) WHERE v IS NOT NULL), "
        f"c AS (SELECT _id, min(p) AS p FROM (SELECT _id, {problem} AS p FROM "
        f"(SELECT _id, unnest({col}) AS c FROM {staged})) WHERE p IS NOT NULL GROUP BY _id) "
        "SELECT _id, v.rule AS rule, v.field AS field, v.detail AS detail FROM s "
        f"UNION ALL SELECT c._id, 'candidate', {literal(candidates[0].name)}, {details}[c.p + 1] "
        "FROM c ANTI JOIN s USING (_id)"
    )
