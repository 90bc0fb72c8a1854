"""The canonical encoding of audit.encoding, written by PostgreSQL, for reading at the disk's speed.

Verification and the JSON Lines export read millions of events. Encoding each in Python (build a
dict, sort, dump its JSON) costs more than reading it, so on PostgreSQL the database writes an
event's canonical text itself, in the same statement that reads it, from the stored columns and
`canonical_data` (`data` exactly as it was hashed: PostgreSQL's jsonb cannot give back Python's
sorted-key JSON). Every piece maps one field of audit.encoding.canonical_fields:

- strings (action, actor_email, chain, prev_hash) through to_json, which escapes exactly what
  Python's json.dumps(ensure_ascii=False) escapes (quote, backslash, control characters);
- numbers as their decimal text, NULL as null, the request's UUID in its lower-case form;
- the time as audit.encoding.format_time writes it (UTC, microseconds, "Z").

tests/audit/test_encoding_sql.py checks that these bytes equal canonical_bytes(canonical_fields)
on awkward events (every control character, quotes, backslashes, non-ASCII text, nested data,
nulls, big numbers, microseconds); audit.encoding stays the one definition. Fixed SQL only: no
input is ever written into these strings.
"""

from __future__ import annotations

from audit.encoding import BODY_END


def time_sql(table: str) -> str:
    """format_time(occurred_at), "2026-11-28T20:42:49.193735Z"."""
    return (f"to_char({table}.occurred_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def _head_sql(table: str) -> str:
    """An event's canonical text up to the end of `seq` (everything but BODY_END); NULL when
    the event has no canonical_data (written before it was stored)."""
    t = table
    return ("('{\"action\":' || to_json(" + t + ".action)::text"
            " || ',\"actor_email\":' || to_json(" + t + ".actor_email)::text"
            " || ',\"actor_id\":' || coalesce(" + t + ".actor_id::text, 'null')"
            " || ',\"chain\":' || to_json(" + t + ".chain)::text"
            " || ',\"data\":' || " + t + ".canonical_data"
            " || ',\"occurred_at\":\"' || " + time_sql(t) + " || '\"'"
            " || ',\"prev_hash\":' || to_json(" + t + ".prev_hash)::text"
            " || ',\"request_id\":' || coalesce('\"' || " + t + ".request_id::text || '\"', "
            "'null')"
            " || ',\"seq\":' || " + t + ".seq::text)")


def body_sql(table: str) -> str:
    """canonical_bytes(canonical_fields(event)): what the event's hash is taken over."""
    return f"({_head_sql(table)} || '{BODY_END}')"


def line_sql(table: str) -> str:
    """audit.encoding.export_line(event): the JSON Lines export's line, without its newline."""
    return f"({_head_sql(table)} || ',\"hash\":' || to_json({table}.hash)::text || '}}')"


def same_data_sql(table: str) -> str:
    """Whether `data` (what pages, searches and the API show) still says what canonical_data
    (what was hashed) says: true when there is no canonical_data. Equal as jsonb values (numbers
    by value), which costs half of comparing both as text; audit data holds no fractions
    (audit.services refuses floats), so 1 and 1.0 are the only values it lets pass as one."""
    return (f"({table}.canonical_data IS NULL "
            f"OR {table}.data = {table}.canonical_data::jsonb)")
