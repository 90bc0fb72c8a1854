"""Resource identifiers: the one canonical form of scopes, access checks and activity reports.

An identifier names what an engineer may reach, e.g. `exchange/mailbox/j.smith@contoso.example`.
A scope pattern is an identifier, or an identifier followed by `/*`, which covers everything
below it (not the identifier itself). The grammar, rule by rule (README, "Resource identifiers"):

1. Segments are separated by `/`. None is empty: no `//`, and no `/` at the start or the end
   (except the final `/*` of a pattern). At most MAX_DEPTH segments (a pattern's `*` counts) and
   MAX_LENGTH characters in all.
2. No segment is made only of dots: `.` and `..` would let `a/*` reach outside `a`; a backend
   that trims trailing dots (Windows does) turns `...` into `..`.
3. ASCII characters: letters, digits and `- . _ ~ ! $ & ' ( ) + = : @` (RFC 3986's path
   characters, written out). Refused, each for a reason a backend could read differently:
   `\\` (a separator on Windows), `%` (no escapes at all: whether a backend decodes `%2F` once,
   twice or never is unknowable, so no escape can be canonicalised safely: send the character),
   `*` (the wildcard, only as a pattern's final `/*`), `,` (separates identifiers in lists and in
   Azure's `resourceIds`), `;` (servers cut path parameters, so `..;` can climb), `?` and `#`
   (servers cut the path there), spaces, quotes, backticks and `< > [ ] { } | ^`.
4. Other characters: Unicode letters, marks and digits only, and no segment starts with a mark
   (it would draw itself over the `/`). Refused: control characters (C0, DEL, C1), formatting
   characters (bidi overrides, zero-width spaces), surrogates, private-use and unassigned code
   points, every kind of whitespace, and non-ASCII symbols and punctuation (U+FF0F FULLWIDTH
   SOLIDUS, U+2215 DIVISION SLASH look like `/`).
5. The text is what Unicode's NFKC normalisation leaves unchanged: no fullwidth letters,
   ligatures, superscripts or decomposed accents, which other software folds into plain text.
6. Case matters and nothing is folded: `Finance` and `finance` are different resources. A
   backend that ignores case can only be refused more, never given more.

Lockbox never rewrites an identifier: a text is either already canonical and used as it is, or
refused with the rule it breaks. So what an approver reads is exactly what is checked.
`covers` compares lists of segments, never raw prefixes, and is false whenever either side is
not canonical. Pure: no Django, no database.
"""

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MAX_LENGTH = 512
MAX_DEPTH = 32
WILDCARD = "/*"

ALLOWED_ASCII_PUNCTUATION = "-._~!$&'()+=:@"
_CHAR = rf"[A-Za-z0-9{re.escape(ALLOWED_ASCII_PUNCTUATION)}]"
# A segment of allowed characters that is not made only of dots.
_SEGMENT = rf"(?!\.+(?:/|\Z)){_CHAR}+"
_ASCII_BODY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
# The same, letting any non-ASCII character through for the slower checks of rules 4 and 5.
_ANY_CHAR = rf"(?:{_CHAR}|[^\x00-\x7f])"
_ANY_BODY = re.compile(rf"(?!\.+(?:/|\Z)){_ANY_CHAR}+(?:/(?!\.+(?:/|\Z)){_ANY_CHAR}+)*")

_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SHOWN = 80

# A canonical text, parsed: its segments, and whether it ends in the wildcard.
Parsed = tuple[tuple[str, ...], bool]


class ResourceError(ValueError):
    """Not a canonical identifier; str() is a sentence that names the rule broken."""


def canonical(text: str, *, pattern: bool = False) -> str:
    """The canonical form of `text`: the text itself when it follows the grammar (a final "/*"
    only when `pattern`), else ResourceError saying which rule it breaks."""
    if _parse(text, pattern) is None:
        raise ResourceError(_diagnose(text, pattern))
    return text


def problem(text: str, *, pattern: bool = False) -> str:
    """Why `text` is not canonical, or "" when it is."""
    return "" if _parse(text, pattern) is not None else _diagnose(text, pattern)


def covers(pattern: str, resource: str) -> bool:
    """Does the scope pattern cover the resource? `a/b` covers exactly `a/b`; `a/b/*` covers
    `a/b/c` and `a/b/c/d` but neither `a/b` nor `a/bc`. False when either is not canonical."""
    return covered_by_any((pattern,), resource)


def covered_by_any(scope: Iterable[str], resource: str) -> bool:
    """Does any pattern of the scope cover the resource? The access check's question."""
    return CompiledScope(scope).covers(resource)


class CompiledScope:
    """A scope with its patterns parsed once: covered_by_any's rule, for judging many resources
    against one scope (an activity batch judges each of its actions against the same grants)."""

    __slots__ = ("_patterns",)

    def __init__(self, scope: Iterable[str]) -> None:
        # An item that does not parse (a scope stored before these rules) covers nothing.
        self._patterns = [parsed for parsed in (_parse(pattern, True) for pattern in scope)
                          if parsed is not None]

    def covers(self, resource: str) -> bool:
        parsed = _parse(resource, False)
        if parsed is None:
            return False
        segments = parsed[0]
        for prefix, wildcard in self._patterns:
            if wildcard:
                if len(segments) > len(prefix) and segments[:len(prefix)] == prefix:
                    return True
            elif segments == prefix:
                return True
        return False


def visible(text: str) -> str:
    """`text` with backslashes doubled and every control, formatting, surrogate and whitespace
    character written as an escape (\\u0000), so a refused identifier can be stored and shown
    exactly, without invisible parts. Canonical text comes back unchanged."""
    if _parse(text, False) is not None:
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch)[0] in "CZ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


# --- Parsing (cached: the access check runs it on every call) ------------------------------------

def _parse(text: object, pattern: bool) -> Parsed | None:
    """(segments, wildcard) for a canonical text, else None."""
    if type(text) is not str or len(text) > MAX_LENGTH:  # long text is never kept in the cache
        return None
    return _parse_text(text, bool(pattern))


@lru_cache(maxsize=8192)
def _parse_text(text: str, pattern: bool) -> Parsed | None:
    wildcard = pattern and text.endswith(WILDCARD)
    body = text[:-len(WILDCARD)] if wildcard else text
    if body.isascii():
        if not _ASCII_BODY.fullmatch(body):
            return None
    elif not _ANY_BODY.fullmatch(body) or not _unicode_ok(body):
        return None
    segments = tuple(body.split("/"))
    if len(segments) + wildcard > MAX_DEPTH:
        return None
    return segments, wildcard


def _unicode_ok(body: str) -> bool:
    for ch in body:
        if ch > "\x7f" and unicodedata.category(ch)[0] not in "LMN":
            return False
    for segment in body.split("/"):
        if unicodedata.category(segment[0])[0] == "M":
            return False
    return unicodedata.is_normalized("NFKC", body)


# --- Saying which rule is broken (only for refused text, so it may be slow) ----------------------

def _diagnose(text: object, pattern: bool) -> str:
    if not isinstance(text, str):
        return "A resource identifier must be text."
    if not text:
        return "A resource identifier cannot be empty."
    shown = repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")

    def refuse(rule: str) -> str:
        return f"{shown} is not a resource identifier: {rule}."

    if len(text) > MAX_LENGTH:
        return refuse(f"it is longer than {MAX_LENGTH} characters")
    wildcard = pattern and text.endswith(WILDCARD)
    body = text[:-len(WILDCARD)] if wildcard else text
    if not body:
        return refuse("'/*' needs the resource it covers before it, as in 'prefix/*'")
    for i, ch in enumerate(body):
        rule = _character_rule(ch, body[i:], pattern)
        if rule:
            return refuse(rule)
    segments = body.split("/")
    if "" in segments:
        return refuse("it has an empty segment (a '//', or a '/' at the start or the end)")
    if any(not segment.strip(".") for segment in segments):
        return refuse("it has a segment made of dots, such as '.' or '..'; name the resource "
                      "itself")
    for segment in segments:
        if unicodedata.category(segment[0])[0] == "M":
            return refuse(f"a segment starts with {_name(segment[0])}, a combining mark")
    if len(segments) + wildcard > MAX_DEPTH:
        return refuse(f"it has more than {MAX_DEPTH} segments")
    for ch in body:
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch:
            return refuse(f"{_name(ch)} is a variant of {folded!r}; write that instead")
    return refuse("it is not in Unicode's NFKC form; write it with composed characters")


def _character_rule(ch: str, rest: str, pattern: bool) -> str:
    """The rule a character breaks, or "" if it may appear in a segment. `rest` starts at it."""
    if ch == "\\":
        return "it has a backslash; segments are separated by '/' only"
    if ch == "%":
        escape = _PERCENT_ESCAPE.match(rest)
        if escape and escape.group(1).lower() in ("2f", "5c"):
            return (f"it has a percent-encoded separator ({escape.group(0)!r}); write "
                    "identifiers unencoded")
        if escape and escape.group(1).lower() == "2e":
            return (f"it has a percent-encoded dot ({escape.group(0)!r}); write identifiers "
                    "unencoded")
        return "it has a '%'; Lockbox takes no escapes: decode once and send the characters"
    if ch == "*":
        return ("'*' may only end a scope, as a final '/*'" if pattern
                else "it has a '*'; only a scope may end in '/*'")
    if ch == ",":
        return "it has a ',', which separates identifiers in a list"
    if ch == ";":
        return "it has a ';' (servers cut path parameters there, so '..;' can climb)"
    if ch in "?#":
        return f"it has a {ch!r} (servers end the path there)"
    category = unicodedata.category(ch)
    if category == "Cc":
        return f"it has a control character ({_name(ch)})"
    if category == "Cf":
        return f"it has an invisible formatting character ({_name(ch)})"
    if category == "Cs":
        return f"it has a lone surrogate ({_name(ch)}), which is not a character"
    if category in ("Co", "Cn"):
        return f"it has a private-use or unassigned code point ({_name(ch)})"
    if category[0] == "Z" or ch.isspace():
        return f"it has whitespace ({_name(ch)})"
    if ch.isascii():
        if re.fullmatch(_CHAR, ch) or ch == "/":
            return ""
        return (f"it has {ch!r}; a segment holds letters, digits and "
                f"{' '.join(ALLOWED_ASCII_PUNCTUATION)}")
    if category[0] not in "LMN":
        return f"it has {_name(ch)}; outside ASCII only letters, marks and digits are allowed"
    return ""


def _name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"
