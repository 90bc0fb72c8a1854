"""Searching one chain. Callers pass a chain they have already checked the user may read."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from audit.models import Archive, ArchiveMark, AuditEvent, ChainHead, Checkpoint


def search_events(chain: str | None, *, since: datetime | None = None,
                  until: datetime | None = None, actor: str = "", action: str = "",
                  request: str = "", text: str = "",
                  paged: bool = False) -> QuerySet[AuditEvent] | Paged:
    """Events of one chain, or of every chain when `chain` is None (provider auditors only).

    Returns a queryset of every matching event; with `paged`, a Paged search for keyset_page.
    """
    if paged:
        held = {"chain": chain, "action": action}
        fixed = tuple(name for name, value in held.items() if value)
        walk = _filtered(chain, since, until, actor, action, request, held_by_range=True)
        if not text:
            return Paged(walk, fixed)
        if connection.vendor != "postgresql" or not _words(text):
            return Paged(_text_search(walk, text), fixed)
        return Paged(walk, fixed, text=text,
                     equal=_filtered(chain, since, until, actor, action, request))
    rows = _filtered(chain, since, until, actor, action, request)
    return _text_search(rows, text) if text else rows


def _filtered(chain: str | None, since: datetime | None, until: datetime | None, actor: str,
              action: str, request: str, *, held_by_range: bool = False) -> QuerySet[AuditEvent]:
    """Every filter but the free text.

    `held_by_range`: the chain and the action are held by a closed range rather than "=", so
    that keyset_page can walk the (chain, action, id) index from its end: PostgreSQL treats a
    column held equal to a constant as no part of the order, so ORDER BY chain, action, id
    became ORDER BY id, and it walked the whole table backwards by id hoping to meet the
    chain's rows soon, reading every newer event of other tenants first (bench/README.md
    measures both). The rows are the same either way. The GIN index for free text wants "=":
    a range there is a partial match that reads every posting of the chain.
    """
    def held(field: str, value: str) -> dict[str, Any]:
        return {f"{field}__range": (value, value)} if held_by_range else {field: value}

    rows: QuerySet[AuditEvent] = AuditEvent.objects.all() if chain is None else (
        AuditEvent.objects.filter(**held("chain", chain)))
    if since:
        rows = rows.filter(occurred_at__gte=since)
    if until:
        rows = rows.filter(occurred_at__lt=until)
    if actor:
        rows = rows.filter(actor_email__icontains=actor)
    if action:
        rows = rows.filter(**held("action", action))
    if request:
        rows = _by_request(rows, request)
    return rows


def _words(text: str) -> list[str]:
    """The words of a free-text search, lower-cased, each once (letters and digits only, so
    nothing in them needs escaping in LIKE or tsquery quoting)."""
    return sorted(set(re.findall(r"[^\W_]+", text.lower())))


def _as_prefixes(words: Iterable[str]) -> str:
    """Words as a tsquery in which each must start a word of the event ("mail" finds
    "mailbox")."""
    return " & ".join(f"{_lexeme(word)}:*" for word in words)


def _text_search(rows: QuerySet[AuditEvent], text: str,
                 words: tuple[str, str] | None = None) -> QuerySet[AuditEvent]:
    """On PostgreSQL, full-text search on the stored, GIN-indexed `search` column (migrations
    0004, 0007 and 0008), each word widened to the words of the log it starts (_widened, or
    `words` when the caller has them). Elsewhere, a substring match."""
    if connection.vendor == "postgresql":
        words = words or _widened(text)
        if words is None:
            return rows.none()
        exact, prefixes = words
        # The index answers the widened words; prefixes too common to widen are checked on
        # the rows it finds, unless there is nothing else to ask it.
        column = f'"{AuditEvent._meta.db_table}"."search"'  # the model's table; no input
        rows = rows.alias(matches=RawSQL(  # noqa: S611 (the query is a bound parameter)
            f"{column} @@ %s::tsquery", [exact or prefixes], output_field=BooleanField())
        ).filter(matches=True)
        return _row_matches(rows, prefixes) if exact and prefixes else rows
    return rows.annotate(data_text=Cast("data", TextField())).filter(
        Q(action__icontains=text) | Q(actor_email__icontains=text)
        | Q(data_text__icontains=text))


# A search word that starts more words of the log than this is checked as a prefix.
WIDEN = 64


def _widened(text: str) -> tuple[str, str] | None:
    """The words of a search for the GIN index: each word becomes the words of the log it
    starts, from audit_searchword (migration 0009), as in "'mailbox' & ('user12' | 'user120' |
    ...)", which the index answers by stepping through the rarest word's postings, where a
    prefix ("mailbox:*") had it read every posting of every word it starts.

    Returns (exact, prefixes): the widened words as a tsquery, and the words that start more
    than WIDEN words ("u:*"), better checked on the rows the others find. None when the text
    holds no word, or a word starts no word of the log: nothing can match.
    """
    found = _widened_and(text, None)
    return None if found is None else found[0]


def _widened_and(text: str, also: QuerySet[AuditEvent, Any] | None
                 ) -> tuple[tuple[str, str], Any] | None:
    """_widened, and the one value the query `also` gives, read in the same statement (a
    round trip less on every free-text page)."""
    words = _words(text)
    if not words:
        return None
    # One probe of the words' index per search word, in one statement (LIKE with a constant
    # prefix walks the text_pattern_ops index; a pattern computed in the query would not).
    probe = ("(SELECT array(SELECT DISTINCT word FROM audit_searchword WHERE word LIKE %s "
             "ORDER BY word LIMIT %s))")
    params: list[Any] = [value for word in words for value in (word + "%", WIDEN + 1)]
    columns, using = [probe] * len(words), DEFAULT_DB_ALIAS
    if also is not None:
        # Where the router sends `also` (the replica, for a search that may lag), the words
        # are read too.
        using = also.db
        sql, also_params = also.query.get_compiler(using=using).as_sql()
        columns.append(f"({sql})")
        params.extend(also_params)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        row = cursor.fetchone()
    started, value = list(row[:len(words)]), (row[len(words)] if also is not None else None)
    if not all(started):
        return None
    exact = " & ".join("(" + " | ".join(_lexeme(each) for each in found) + ")"
                       for found in started if len(found) <= WIDEN)
    prefixes = _as_prefixes(word for word, found in zip(words, started, strict=True)
                            if len(found) > WIDEN)
    return (exact, prefixes), value


def _lexeme(word: str) -> str:
    """A word in tsquery's own syntax, quoted."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _row_matches(rows: QuerySet[AuditEvent], query: str) -> QuerySet[AuditEvent]:
    """A tsquery checked on each row as it is read, never through the GIN index: ts_match_vq
    is what @@ calls, and PostgreSQL matches only the operator to an index."""
    column = f'"{AuditEvent._meta.db_table}"."search"'  # the model's table; no input
    return rows.alias(walked_match=RawSQL(  # noqa: S611 (the query is a bound parameter)
        f"ts_match_vq({column}, %s::tsquery)", [query], output_field=BooleanField())
    ).filter(walked_match=True)


def _by_request(rows: QuerySet[AuditEvent], value: str) -> QuerySet[AuditEvent]:
    """A full request id, or the short reference people read off the screen (its first 8)."""
    value = value.strip().lower()
    try:
        return rows.filter(request_id=uuid.UUID(value))
    except ValueError:
        pass
    return rows.annotate(request_text=Cast("request_id", CharField())).filter(
        request_text__istartswith=value)


def actions_in_chain(chain: str | None) -> list[str]:
    """The distinct actions of one chain (or of all, for None), for the "What happened" filter.

    On PostgreSQL, read by skipping through the (chain, action, id) or (action, id) index, one
    probe per distinct action: a DISTINCT would read every event, and a chain may hold
    millions. Elsewhere, a plain DISTINCT.
    """
    if connection.vendor != "postgresql":
        rows = AuditEvent.objects.all() if chain is None else AuditEvent.objects.filter(
            chain=chain)
        return list(rows.order_by("action").values_list("action", flat=True).distinct())
    table = AuditEvent._meta.db_table
    where, params = ("chain = %s AND ", [chain]) if chain is not None else ("", [])
    sql = f"""
        WITH RECURSIVE found(action) AS (
            (SELECT action FROM {table} WHERE {where}TRUE ORDER BY action LIMIT 1)
            UNION ALL
            SELECT (SELECT e.action FROM {table} e WHERE {where.replace("chain", "e.chain")}
                    e.action > found.action ORDER BY e.action LIMIT 1)
            FROM found WHERE found.action IS NOT NULL
        )
        SELECT action FROM found WHERE action IS NOT NULL
    """  # noqa: S608 (the table name is the model's; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        return [row[0] for row in cursor.fetchall()]


def chains_with_events() -> set[str]:
    """Every chain that holds an event; on PostgreSQL by skipping through the (chain, id)
    index, one probe per chain, rather than reading every event."""
    return chains_in(AuditEvent)


def all_chains() -> list[str]:
    """Every chain the audit knows of: named by a head, by its events, or by its checkpoints (a
    chain whose events and head were wiped is still named by its checkpoints)."""
    heads = set(ChainHead.objects.values_list("chain", flat=True))
    return sorted(heads | chains_in(Checkpoint) | chains_with_events())


def chains_in(model: type[AuditEvent] | type[Checkpoint]) -> set[str]:
    """Every chain named in `model`'s table (events, checkpoints: both index chain first)."""
    if connection.vendor != "postgresql":
        return set(model.objects.order_by().values_list("chain", flat=True).distinct())
    table = model._meta.db_table
    sql = f"""
        WITH RECURSIVE found(chain) AS (
            (SELECT chain FROM {table} ORDER BY chain LIMIT 1)
            UNION ALL
            SELECT (SELECT e.chain FROM {table} e WHERE e.chain > found.chain
                    ORDER BY e.chain LIMIT 1)
            FROM found WHERE found.chain IS NOT NULL
        )
        SELECT chain FROM found WHERE chain IS NOT NULL
    """  # noqa: S608 (the table name is the model's)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class Paged:
    """A search for keyset_page.

    `rows`: every filter but the free text, with the `fixed` fields (chain, action) held by a
    range so that their index can be walked from its end. With free text on PostgreSQL, the
    `text`, and `equal`: the same filters with those fields held equal, for the GIN index.
    Elsewhere the text is a filter of `rows` already.
    """

    rows: QuerySet[AuditEvent]
    fixed: tuple[str, ...] = ()
    text: str = ""
    equal: QuerySet[AuditEvent] | None = None


# How many events next in order a free-text page reads one by one before it asks the GIN index.
WALK = 5_000


def keyset_page(search: Paged | QuerySet[AuditEvent], *, before: int | None = None,
                after: int | None = None, size: int = 50,
                fixed: Iterable[str] = ()) -> tuple[list[AuditEvent], int | None, int | None]:
    """Newest first, `size` at a time, by row id: as fast on page 1,000 as on page 1.

    `search`: a Paged search (search_events(..., paged=True)), or a queryset and the `fixed`
    fields it holds to one value. Within one chain id order is sequence order (appends to a
    chain are serialised), and across chains it is the order events were written. Returns
    (events, older_cursor, newer_cursor); a cursor is None when there is nothing in that
    direction.

    The fixed fields ("chain", "action") come first in the order: that changes nothing in the
    result but lets PostgreSQL walk the matching index (chain, action, id) from its end,
    rather than guessing that a walk of the whole table by id will meet those rows soon.
    """
    if not isinstance(search, Paged):
        search = Paged(search, tuple(fixed))
    if after is not None:
        chunk = _first(search, {"pk__gt": after}, size + 1, newest=False)
        events = list(reversed(chunk[:size]))
        newer = events[0].pk if len(chunk) > size else None
        older = events[-1].pk if events and _first(
            search, {"pk__lt": events[-1].pk}, 1, newest=True) else None
        return events, older, newer
    chunk = _first(search, {} if before is None else {"pk__lt": before}, size + 1,
                   newest=True)
    events = chunk[:size]
    older = events[-1].pk if len(chunk) > size else None
    newer = events[0].pk if before is not None and events else None
    return events, older, newer


def _first(search: Paged, bound: dict[str, int], count: int, *,
           newest: bool) -> list[AuditEvent]:
    """The first `count` events of the search beyond `bound`, newest or oldest first.

    With free text on PostgreSQL, in steps whose cost does not hang on the planner's guess of
    how common the words are. The words are widened to the log's words (_widened); a word that
    starts none ends the search. Then the ids of the WALK events next in order are read from
    the end of the (chain, action, id) index, and those events checked against the words:
    where the words are common, the page fills there. If it does not, fewer than `count` of
    WALK events match, so the GIN index is asked for the matching events beyond those: few
    come back to be sorted. (A bound on the id beside a range on the chain does not end an
    index walk in PostgreSQL; a LIMIT does.) Left to itself PostgreSQL chose from its guess,
    and either walked for rare words (every event of the chain) or read every match of common
    ones to sort them (bench/README.md measures the search).
    """
    order = ([f"-{field}" for field in search.fixed] + ["-pk"] if newest
             else [*search.fixed, "pk"])
    rows = search.rows.filter(**bound)
    if not search.text:
        return list(rows.order_by(*order)[:count])
    # The words, and the id where the walk of the WALK events next in order ends (None when
    # there are fewer), in one statement.
    widened = _widened_and(search.text,
                           rows.order_by(*order).values_list("pk", flat=True)[WALK - 1:WALK])
    if widened is None:  # a word that starts no word of the log: nothing to walk for
        return []
    words, edge = widened
    # Sorted by an expression that no index gives: PostgreSQL then reads the WALK rows by
    # their ids, or the GIN index's matches, and never walks an index hoping to meet matches.
    key = ExpressionWrapper(F("pk") + 0, output_field=BigIntegerField())
    by_key = "-key" if newest else "key"
    walked = rows.filter(pk__in=rows.order_by(*order).values("pk")[:WALK])
    matches = _row_matches(walked, _as_prefixes(_words(search.text)))
    found: list[AuditEvent] = list(matches.alias(key=key).order_by(by_key)[:count])
    if len(found) == count or edge is None:
        return found
    assert search.equal is not None  # search_events sets it with the text, on PostgreSQL
    rest = _text_search(search.equal, search.text, words).filter(**bound).filter(
        **{"pk__lt" if newest else "pk__gt": edge}).alias(key=key).order_by(by_key)
    return found + list(rest[:count - len(found)])


def archives_of(chain: str) -> QuerySet[Archive]:
    """A chain's archives, newest first (the order the pages list them)."""
    return Archive.objects.filter(chain=chain).order_by("-first_seq")


def archived_through(chain: str) -> int:
    """The last event of the chain that lives in a signed archive (0: none)."""
    return ArchiveMark.objects.filter(chain=chain).values_list("through_seq", flat=True) \
        .first() or 0
