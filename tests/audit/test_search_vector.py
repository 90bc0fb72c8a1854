"""The stored search vector (audit_search_vector) is computed without translate() since
migration 0012, and the word table is kept by a trigger that looks each word up once since
0013; the words a search finds must be exactly the ones it found before."""

import json
import random

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Migration 0004's expression, which every stored vector and the index were built with.
BEFORE = ("to_tsvector('simple', translate(lower(a || ' ' || b || ' ' || d::jsonb::text), "
          "'/@._-:\",{}[]\\', '              '))")

TRICKY = [
    "", " ", "\\", "\\\\", "a\\b", '"', "{}", "[]", "/@._-:\",{}[]\\",
    "exchange/mailbox/j.smith@contoso.example/folders/inbox/m42",
    "mailbox/alice/../bob", "a//b", "a_b-c:d", "x,y;z", "q'uote", "tab\there", "new\nline",
    "ÉCOLE/Ünïcode_Straße", "İstanbul.İ", "ǅemal", "e\u0301", "日本語/テスト@例え.jp",
    "emoji 😀/🙂", "fullwidth\uff0f\uff21\uff22\uff23",
    "2026-12-01T18:53:33.771064+00:00", "+00", "-1.5e10",
    "m71770", "user12@t0009.bench", "http://host:8080/path?q=1#frag", "a\u00a0b", "\u200bzero",
]
ALPHABET = list('/@._-:",{}[]\\') + list("aZ09 +!$&'()=~%*;?#|^`<>") + [
    "é", "Ä", "ß", "İ", "\u0131", "Σ", "ς", "日", "😀", "\u0301", "\u00a0", "\t"]


def _same(rows):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE audit_search_vector(a, b, d::jsonb) = {BEFORE}), "  # noqa: S608
            "count(*) FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(a, b, d)",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]])
        return cursor.fetchone()


def test_tricky_text_gives_the_same_words_as_before():
    rows = [(text, text, json.dumps({text: text, "k": [text, 1, None, True]}))
            for text in TRICKY]
    assert _same(rows) == (len(rows), len(rows))


def test_random_text_gives_the_same_words_as_before():
    pick = random.Random(15)
    rows = []
    for _ in range(3000):
        words = ["".join(pick.choices(ALPHABET, k=pick.randint(0, 12)))
                 for _ in range(pick.randint(1, 6))]
        rows.append((words[0], words[-1], json.dumps({w: words for w in words},
                                                     ensure_ascii=pick.random() < 0.5)))
    assert _same(rows) == (len(rows), len(rows))


def test_the_check_can_fail():
    """A vector from other text is told apart (the comparison is not vacuous)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT audit_search_vector('a.b', 'c', '{{}}') = {BEFORE} "  # noqa: S608
                       "FROM (SELECT 'a b'::text AS a, 'x'::text AS b, '{}'::text AS d) t")
        assert cursor.fetchone() == (False,)


def _words(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def test_every_word_of_every_event_is_noted_once():
    from audit.services import record_event, record_events

    record_event(chain="tenant:words", action="activity.recorded",
                 data={"resource": "exchange/mailbox/zebrafirst@x.test", "note": "common"})
    record_events(chain="tenant:words", events=[
        {"action": "activity.recorded", "data": {"resource": f"sharepoint/zebra{n}",
                                                 "note": "common"}} for n in range(300)])
    record_events(chain="tenant:other", events=[
        {"action": "activity.out_of_scope", "data": {"note": "common zebrafirst zebralast"}}])
    noted = _words("SELECT word FROM audit_searchword WHERE word LIKE 'zebra%%' "
                   "OR word = 'common'")
    assert noted == sorted(["common", "zebrafirst", "zebralast",
                            *{f"zebra{n}" for n in range(300)}])
    missing = _words("SELECT DISTINCT w FROM audit_auditevent, unnest(tsvector_to_array(search))"
                     " AS w WHERE NOT EXISTS (SELECT 1 FROM audit_searchword s WHERE s.word = w)")
    assert missing == []
