"""Resource identifiers have one canonical form; a scope covers by whole segments only.

Pure: approvals.resources touches no database. The property tests compare it with reference
models written here from README's rules: pathlib for covering, a plain loop for the grammar.
"""

import string
import unicodedata
from pathlib import PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from approvals.resources import (
    MAX_DEPTH,
    MAX_LENGTH,
    ResourceError,
    canonical,
    covers,
    problem,
    visible,
)

ALICE = "exchange/mailbox/alice@fabrikam.example"

ACCEPTED = [
    "exchange/mailbox/j.smith@contoso.example",
    "exchange/mailbox/j.smith@contoso.example/statistics",
    "sharepoint/sites/Vertrieb-München/docs",
    "arn:aws:s3:::bucket-1",
    "rg/(legacy)/vm_01~old+new=1!$&'",
    "a/.hidden/file.",
    "/".join(["s"] * MAX_DEPTH),
    "x" * MAX_LENGTH,
]

# (text, what the refusal says): one line per rule of the grammar.
REFUSED = [
    (f"{ALICE}/../bob@fabrikam.example", "a segment made of dots, such as '.' or '..'"),
    ("exchange/../../etc", "a segment made of dots"),
    (f"{ALICE}/./inbox", "a segment made of dots"),
    (f"{ALICE}/...", "a segment made of dots"),
    ("a//b", "an empty segment"),
    ("/exchange/mailbox", "an empty segment"),
    ("exchange/mailbox/", "an empty segment"),
    ("", "cannot be empty"),
    (f"{ALICE}\\..\\bob", "a backslash"),
    (f"{ALICE}/..%2Fbob", "a percent-encoded separator ('%2F')"),
    (f"{ALICE}/..%2fbob", "a percent-encoded separator ('%2f')"),
    (f"{ALICE}/..%5cbob", "a percent-encoded separator ('%5c')"),
    (f"{ALICE}/%2e%2e/bob", "a percent-encoded dot ('%2e')"),
    (f"{ALICE}/%41", "Lockbox takes no escapes"),
    (f"{ALICE}/100%", "Lockbox takes no escapes"),
    (f"{ALICE}/in\x00box", "a control character (U+0000)"),
    (f"{ALICE}/in\x1fbox", "a control character (U+001F)"),
    (f"{ALICE}/in\x7fbox", "a control character (U+007F)"),
    (f"{ALICE}/in\x9bbox", "a control character (U+009B)"),
    (f"{ALICE}/in\tbox", "a control character (U+0009)"),
    (f"{ALICE}/\u202exodni", "an invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
    (f"{ALICE}/in\u200bbox", "an invisible formatting character (U+200B ZERO WIDTH SPACE)"),
    (f"{ALICE}/\ud800", "a lone surrogate (U+D800)"),
    (f"{ALICE}/\ue000", "a private-use or unassigned code point (U+E000)"),
    (f"{ALICE}/in box", "whitespace (U+0020 SPACE)"),
    (f"{ALICE}/in\u00a0box", "whitespace (U+00A0 NO-BREAK SPACE)"),
    (f"{ALICE}\uff0f..\uff0fbob", "U+FF0F FULLWIDTH SOLIDUS; outside ASCII only letters"),
    (f"{ALICE}/\uff0e\uff0e/bob", "U+FF0E FULLWIDTH FULL STOP"),
    (f"{ALICE}\u2215bob", "U+2215 DIVISION SLASH"),
    ("exchange/\uff4dailbox", "U+FF4D FULLWIDTH LATIN SMALL LETTER M is a variant of 'm'"),
    ("sharepoint/\ufb01nance", "U+FB01 LATIN SMALL LIGATURE FI is a variant of 'fi'"),
    ("sharepoint/sites/Mu\u0308nchen", "not in Unicode's NFKC form"),
    ("sharepoint/\u0338sites", "a segment starts with U+0338 COMBINING LONG SOLIDUS OVERLAY"),
    (f"{ALICE}/..;/bob", "a ';' (servers cut path parameters there"),
    (f"{ALICE}/a?b=../../bob", "a '?' (servers end the path there)"),
    (f"{ALICE}/a#frag", "a '#' (servers end the path there)"),
    ("exchange/a,exchange/b", "a ',', which separates identifiers"),
    ("exchange/<script>", "it has '<'; a segment holds letters, digits and"),
    ("x" * (MAX_LENGTH + 1), f"longer than {MAX_LENGTH} characters"),
    ("/".join(["s"] * (MAX_DEPTH + 1)), f"more than {MAX_DEPTH} segments"),
]

REFUSED_PATTERNS = [
    ("/*", "'/*' needs the resource it covers before it"),
    ("*", "'*' may only end a scope"),
    ("exchange/*/inbox", "'*' may only end a scope"),
    ("exchange/mail*", "'*' may only end a scope"),
    ("exchange//*", "an empty segment"),
    ("exchange/../*", "a segment made of dots"),
    ("/".join(["s"] * MAX_DEPTH) + "/*", f"more than {MAX_DEPTH} segments"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_a_canonical_identifier_comes_back_unchanged(text):
    assert canonical(text) == text
    assert canonical(text, pattern=True) == text
    assert problem(text) == "" and visible(text) == text


@pytest.mark.parametrize("text", ["exchange/mailbox/alice@x/*", "x" * (MAX_LENGTH - 2) + "/*",
                                  "/".join(["s"] * (MAX_DEPTH - 1)) + "/*"])
def test_a_pattern_may_end_in_slash_star_within_the_limits(text):
    assert canonical(text, pattern=True) == text
    with pytest.raises(ResourceError, match="only a scope may end in '/\\*'"):
        canonical(text)


@pytest.mark.parametrize("text,rule", REFUSED, ids=[f"{i}:{r[:30]}" for i, (_, r) in
                                                     enumerate(REFUSED)])
def test_it_refuses_each_rule_with_a_sentence_that_names_it(text, rule):
    for pattern in (False, True):
        with pytest.raises(ResourceError) as refused:
            canonical(text, pattern=pattern)
        assert rule in str(refused.value)
        assert isinstance(refused.value, ValueError)
        assert problem(text, pattern=pattern) == str(refused.value)
    assert not covers(f"{ALICE}/*", text) and not covers("exchange/*", text)


@pytest.mark.parametrize("text,rule", REFUSED_PATTERNS)
def test_only_a_final_slash_star_makes_a_pattern(text, rule):
    with pytest.raises(ResourceError, match="not a resource identifier") as refused:
        canonical(text, pattern=True)
    assert rule in str(refused.value)


def test_a_refusal_quotes_the_text_with_its_invisible_parts_escaped():
    message = problem("exchange/in\x00box")
    assert message.startswith("'exchange/in\\x00box' is not a resource identifier: ")
    assert "\x00" not in message
    long = problem("a/" + "x" * 600)
    assert len(long) < 250 and "…" in long


def test_a_scope_covers_below_its_prefix_by_whole_segments():
    assert covers(f"{ALICE}/*", f"{ALICE}/inbox")
    assert covers(f"{ALICE}/*", f"{ALICE}/inbox/2026/03")
    assert covers(ALICE, ALICE)
    # "prefix/*" is what is below the prefix: name the prefix too to reach it.
    assert not covers(f"{ALICE}/*", ALICE)
    assert not covers(f"{ALICE}/*", f"{ALICE}/../bob@fabrikam.example")
    assert not covers(f"{ALICE}/*", "exchange/mailbox/alice@fabrikam.example.evil/inbox")
    assert not covers("exchange/mailbox/alice@x/*", "exchange/mailbox/alice@xy/inbox")
    assert not covers("exchange/mailbox/alice@x", "exchange/mailbox/alice@xy")
    assert not covers("exchange/mailbox/alice@x", "exchange/mailbox/alice@x/inbox")
    assert not covers("sharepoint/sites/Finance/*", "sharepoint/sites/finance/list-1")


def test_a_scope_item_that_is_not_canonical_covers_nothing():
    # What an old database may hold: it keeps no power over text that is not canonical either.
    assert not covers("/legacy/*", "/legacy/x")
    assert not covers("a//b", "a//b")
    assert not covers("exchange/../*", "exchange/../x")
    assert not covers(f"{ALICE}/*", None)
    assert not covers(None, ALICE)


# --- Properties ---------------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["a", "b", "ab", "a.b", "alice@x", "alice@x.evil", "alice@xy", "B",
                            ".hidden", "München", "x~1", "1"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=5)


def _reference_covers(pattern_segments, wildcard, resource_segments):
    """The model: a path below the pattern's path (pathlib), or equal to it without "/*"."""
    pattern_path, resource_path = (PurePosixPath(*pattern_segments),
                                   PurePosixPath(*resource_segments))
    if wildcard:
        return resource_path != pattern_path and resource_path.is_relative_to(pattern_path)
    return resource_path == pattern_path


@given(pattern=PATHS, wildcard=st.booleans(), resource=PATHS,
       how=st.sampled_from(["as drawn", "below", "itself", "sibling", "sibling below"]))
@settings(max_examples=600)
def test_covers_agrees_with_the_reference_model(pattern, wildcard, resource, how):
    # Bias towards related paths, where a prefix bug would show.
    if how == "below":
        resource = pattern + resource
    elif how == "itself":
        resource = list(pattern)
    elif how.startswith("sibling"):  # shares the raw text of the prefix: alice@x, alice@xy
        resource = [*pattern[:-1], pattern[-1] + resource[0], *resource[1:]]
        if how == "sibling below":
            resource = [*pattern[:-1], pattern[-1] + ".evil", *resource]
    text = "/".join(pattern) + ("/*" if wildcard else "")
    assert covers(text, "/".join(resource)) == _reference_covers(pattern, wildcard, resource)


SAFE_ASCII = set(string.ascii_letters + string.digits + "-._~!$&'()+=:@")


def _reference_canonical(text, pattern):
    """README's grammar as a plain loop, to hold the implementation's regular expressions to."""
    if not text or len(text) > MAX_LENGTH:
        return False
    wildcard = pattern and text.endswith("/*")
    body = text[:-2] if wildcard else text
    segments = body.split("/")
    if len(segments) + wildcard > MAX_DEPTH:
        return False
    for segment in segments:
        if segment == "" or set(segment) == {"."}:
            return False
        if unicodedata.category(segment[0]).startswith("M"):
            return False
        for ch in segment:
            if ch.isascii() and ch not in SAFE_ASCII:
                return False
            if not ch.isascii() and unicodedata.category(ch)[0] not in "LMN":
                return False
    return unicodedata.normalize("NFKC", body) == body


TRICKY = st.text(alphabet=st.sampled_from([
    "a", "b", "Z", "0", "@", "-", "~", "/", "/", ".", ".", "\\", "%", "2", "f", "F", "e", "5",
    "c", "*", ",", ";", "?", "#", " ", "\x00", "\t", "\x7f", "\x85", "\x9b", "\u00a0",
    "\u200b", "\u202e", "\ufeff", "\ud800", "\ue000", "\uff0f", "\uff0e", "\uff41", "\u2215",
    "\u0301", "\u0338", "ü", "u", "\u0308", "\ufb01", "²", "ß", "Ω", "\u2126", "日",
]), max_size=14)


@given(text=TRICKY, pattern=st.booleans())
@settings(max_examples=3000)
@example(text="a/..", pattern=False)
@example(text="a/\u0308", pattern=False)
@example(text="\u2126", pattern=False)  # OHM SIGN: NFKC makes it GREEK CAPITAL LETTER OMEGA
def test_the_grammar_agrees_with_the_reference_model(text, pattern):
    expected = _reference_canonical(text, pattern)
    assert (problem(text, pattern=pattern) == "") == expected
    if expected:
        assert canonical(text, pattern=pattern) == text
    else:
        with pytest.raises(ResourceError):
            canonical(text, pattern=pattern)


@given(prefix=PATHS, text=TRICKY)
@settings(max_examples=2000)
def test_nothing_that_is_not_canonical_is_ever_covered(prefix, text):
    pattern = "/".join(prefix) + "/*"
    resource = "/".join(prefix) + "/" + text
    if covers(pattern, resource):
        assert canonical(resource) == resource
        parts = resource.split("/")
        assert parts[:len(prefix)] == prefix and len(parts) > len(prefix)
        assert not {"", ".", ".."} & set(parts)


def _unescape(shown):
    out, i = [], 0
    while i < len(shown):
        if shown[i] != "\\":
            out.append(shown[i])
            i += 1
        elif shown[i + 1] == "\\":
            out.append("\\")
            i += 2
        else:
            width = 4 if shown[i + 1] == "u" else 8
            out.append(chr(int(shown[i + 2:i + 2 + width], 16)))
            i += 2 + width
    return "".join(out)


@given(text=st.text() | TRICKY)
@settings(max_examples=1000)
def test_visible_text_shows_every_character_and_hides_none(text):
    shown = visible(text)
    assert _unescape(shown) == text
    assert all(unicodedata.category(ch)[0] not in "CZ" for ch in shown)
