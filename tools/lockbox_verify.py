#!/usr/bin/env python3
"""Verify a Lockbox audit export, or a decision receipt, on a machine that never talks to Lockbox.

Needs only Python 3.11 and the `cryptography` package. Download from the portal's Audit page the
export (CSV or JSON Lines), the signed checkpoints and the public keys, then:

    python lockbox_verify.py audit.jsonl --checkpoints checkpoints.json --keys keys.json
    python lockbox_verify.py --receipt receipt.json --keys keys.json

When the oldest events have left the database as signed archives (retention), give the
archives' manifests: the export is then accepted as beginning where the newest archive ends,
and each archive file can be checked against its own manifest:

    python lockbox_verify.py audit.jsonl --archive a1.manifest.json --archive a2.manifest.json \
        --checkpoints checkpoints.json --keys keys.json
    python lockbox_verify.py a2.jsonl --manifest a2.manifest.json --archive a1.manifest.json \
        --keys keys.json

Every manifest must be signed by a key in the keys file, name the export's chain, and follow
the one before it (from event 1 on, no gap); the export must continue from the last one's head.

It recomputes every event's SHA-256 over its canonical encoding, checks that each event links
to the one before it, that the checkpoints are signed by a key in the keys file, that none is
missing between them, that they match the events they vouch for, and that the export is not
shorter than the newest checkpoint. It prints OK, or FAILED with the first bad event, and exits
0 or 1 (2 for unreadable input). Keep the keys and checkpoints files you download: checked
against files you kept, an export proves that nothing up to your newest kept checkpoint changed
since you downloaded them.
"""

import argparse
import base64
import csv
import hashlib
import io
import json
import sys

GENESIS = "0" * 64
FIELDS = ("chain", "seq", "occurred_at", "action", "actor_id", "actor_email", "request_id",
          "data", "prev_hash", "hash")


class Bad(Exception):
    """The evidence does not hold."""


class Unreadable(Exception):
    """The input is not what it should be (not a Lockbox export, a truncated file …)."""


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event):
    """The same encoding as Lockbox's audit.encoding.canonical_fields."""
    body = {"v": 1, "chain": event["chain"], "seq": event["seq"],
            "occurred_at": event["occurred_at"], "action": event["action"],
            "actor_id": event["actor_id"], "actor_email": event["actor_email"],
            "request_id": event["request_id"], "data": event["data"],
            "prev_hash": event["prev_hash"]}
    return hashlib.sha256(canonical(body)).hexdigest()


# --- Reading ------------------------------------------------------------------------------------

# A JSON Lines export written since December 2026 holds each event as the very bytes its hash was
# taken over: the line is the event's canonical text with its hash in place of the version,
#   {"action":"…","actor_email":"…","actor_id":7,"chain":"…","data":{…},"occurred_at":"…",
#    "prev_hash":"…","request_id":null,"seq":42,"hash":"…"}
# so its hash is checked without decoding its JSON: the bytes before ',"hash":' followed by
# ',"v":1}' are hashed as they are, and chain, prev_hash and seq are read at fixed marks (no
# JSON string can hold an unescaped quote, so the first ',"chain":' and the last ',"seq":'
# are the fields themselves). Any other line (older exports, CSV, a line some tool rewrote) is
# decoded and encoded again, as before; so is a line whose bytes do not hash to its hash,
# before it is called altered. A line read the fast way passes only if its own bytes hash to
# its hash, and every event's hash is in the next one's, up to a signed checkpoint: those bytes
# are the ones Lockbox wrote.
FAST_START = b'{"action":"'
HASH_MARK = b',"hash":"'  # then 64 hex digits, '"}' and the newline: the last 76 bytes
BODY_END = b',"v":1}'


def read_export(path):
    """The export's events in file order, in constant memory: runs of events, each as
    (chain, first seq, last seq, the first's prev_hash, the last's hash, whether every hash
    matches, the line or decoded event that names a single one, the hashes in order)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed when the events are read)
    except OSError as problem:
        raise Unreadable(f"cannot read {path}: {problem}") from None
    with handle:
        start = handle.read(4096)
        if not start.strip():
            raise Unreadable(f"{path} is empty.")
        handle.seek(0)
        if start.lstrip().startswith(b"{"):
            yield from _read_jsonl(handle)
        else:
            yield from _read_csv(handle)


# Lines are read in blocks of about this many bytes. A block whose every line is in the hashed
# form, hashes to its hash, links to the line before it, follows it in sequence and names the
# same chain is passed on as one run of events, checked with list operations rather than line
# by line; any other block is read line by line, where each problem is named.
BLOCK = 1 << 22


def _read_jsonl(handle):
    chains, number, line = {}, 0, b"\n"
    while lines := handle.readlines(BLOCK):
        line = lines[-1]
        run = _run(lines, chains)
        if run is not None:
            yield run
        else:
            yield from _events(lines, number, chains)
        number += len(lines)
    if not line.endswith(b"\n"):
        raise Unreadable("the file does not end with a newline (is it cut short?)")


def _run(lines, chains, sha256=hashlib.sha256):
    """The block's events as one run, when the block is all in the hashed form and whole."""
    count, block = len(lines), b"".join(lines)
    # No JSON holds a raw newline: each line has one, at its end, after '"}'.
    if (block.count(b'"}\n') != count or not block.startswith(FAST_START)
            or [line[-76:-67] for line in lines].count(HASH_MARK) != count):
        return None
    digests = [line[-67:-3] for line in lines]
    if [sha256(line[:-76] + BODY_END).hexdigest().encode() for line in lines] != digests:
        return None
    prevs = [line[(at := line.rfind(b',"prev_hash":"', 0, -76)) + 14:at + 78]
             for line in lines]
    if prevs[1:] != digests[:-1]:
        return None
    try:
        first = int(lines[0][lines[0].rfind(b',"seq":', 0, -76) + 7:-76])
    except ValueError:
        return None
    # Each line's fields end with the next sequence number.
    if ([line.endswith(b',"seq":%d' % seq, 0, len(line) - 76)
            for line, seq in zip(lines, range(first, first + count), strict=True)]
            .count(True) != count):
        return None
    head = lines[0]
    at = head.find(b',"chain":', 11)
    raw = head[at + 9:head.find(b',"data":', at)]
    chain = chains.get(raw) or _chain_name(raw, chains)
    # Each line names the chain once, unless its data holds the same words: then line by line.
    if chain is None or at < 0 or block.count(b',"chain":' + raw + b',"data":') != count:
        return None
    return chain, first, first + count - 1, prevs[0], digests[-1], True, None, digests


def _events(lines, number, chains, sha256=hashlib.sha256):
    """The events of a block, one by one."""
    for number, line in enumerate(lines, number + 1):  # noqa: B020 (numbered on from there)
        end = len(line) - 76
        if (line.startswith(HASH_MARK, end) and line.endswith(b'"}\n')
                and line.startswith(FAST_START)):
            digest = line[end + 9:end + 73]
            if sha256(line[:end] + BODY_END).hexdigest().encode() == digest:
                at = line.find(b',"chain":', 11)
                data = line.find(b',"data":', at)
                seq_at = line.rfind(b',"seq":', data, end)
                prev_at = line.rfind(b',"prev_hash":"', data, seq_at)
                seq = line[seq_at + 7:end]
                if min(at, data, seq_at, prev_at) >= 0 and seq.isdigit():
                    raw = line[at + 9:data]
                    chain = chains.get(raw) or _chain_name(raw, chains)
                    if chain is not None:
                        seq = int(seq)
                        yield (chain, seq, seq, line[prev_at + 14:prev_at + 78], digest, True,
                               line, (digest,))
                        continue
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise Unreadable(f"line {number} is not valid JSON (is the file cut short?)") \
                from None
        yield _decoded(_checked(event, f"line {number}"))


def _chain_name(raw, chains):
    try:
        name = json.loads(raw)
    except ValueError:
        return None
    chains[raw] = name
    return name if isinstance(name, str) and name else None


def _read_csv(handle):
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    rows = csv.reader(text)
    if tuple(next(rows, ())) != FIELDS:
        raise Unreadable("this is not a Lockbox audit export (unexpected header).")
    if not _ends_with_newline(handle):
        raise Unreadable("the file does not end with a newline (is it cut short?)")
    for number, row in enumerate(rows, 2):
        if len(row) != len(FIELDS):
            raise Unreadable(f"line {number} has {len(row)} fields, not {len(FIELDS)}.")
        event = dict(zip(FIELDS, row, strict=True))
        try:
            event["seq"] = int(event["seq"])
            event["actor_id"] = int(event["actor_id"]) if event["actor_id"] else None
            event["data"] = json.loads(event["data"])
        except ValueError:
            raise Unreadable(f"line {number} is not a valid event.") from None
        event["request_id"] = event["request_id"] or None
        yield _decoded(_checked(event, f"line {number}"))


def _ends_with_newline(handle):
    place = handle.tell()
    handle.seek(-1, 2)
    last = handle.read(1)
    handle.seek(place)
    return last == b"\n"


def _decoded(event):
    digest = _ascii(event["hash"])
    return (event["chain"], event["seq"], event["seq"], _ascii(event["prev_hash"]), digest,
            event_hash(event) == event["hash"], event, (digest,))


def _ascii(text):
    return text.encode("utf-8") if isinstance(text, str) else b""


def _checked(event, where):
    if not isinstance(event, dict) or set(event) != set(FIELDS):
        raise Unreadable(f"{where} is not a Lockbox audit event.")
    if not isinstance(event["seq"], int):
        raise Unreadable(f"{where}: seq is not a number.")
    return event


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as problem:
        raise Unreadable(f"cannot read the {what} file {path}: {problem}") from None


# --- Signatures ---------------------------------------------------------------------------------

def load_keys(document):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = {}
    for entry in document.get("keys", []):
        raw = base64.b64decode(entry["public_key"])
        if hashlib.sha256(raw).hexdigest()[:16] != entry["key_id"]:
            raise Bad(f"key {entry['key_id']} does not match its own public key.")
        keys[entry["key_id"]] = Ed25519PublicKey.from_public_bytes(raw)
    if not keys:
        raise Unreadable("the keys file holds no keys.")
    return keys


def check_signature(document, keys, what):
    from cryptography.exceptions import InvalidSignature

    signature = document.get("signature") or {}
    key = keys.get(signature.get("key_id"))
    if key is None:
        raise Bad(f"{what} is signed by an unknown key ({signature.get('key_id')}).")
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        key.verify(base64.b64decode(signature.get("value", "")), canonical(body))
    except (InvalidSignature, ValueError):
        raise Bad(f"{what} has a signature that does not match its content.") from None


# --- Verifying ----------------------------------------------------------------------------------

def check_archives(manifests, keys, chain):
    """The archives' manifests, in order from event 1: returns (last seq, its hash) they vouch
    for, (0, genesis) when there are none; raises Bad when one is forged, of another chain, or
    missing between them."""
    seq, head, sha = 0, GENESIS, ""
    for manifest in sorted(manifests, key=_first_seq):
        if not isinstance(manifest, dict) or manifest.get("type") != "lockbox.archive":
            raise Unreadable("an --archive file is not a Lockbox archive manifest.")
        what = (f"the archive manifest of events {manifest.get('first_seq')} to "
                f"{manifest.get('last_seq')}")
        check_signature(manifest, keys, what)
        if manifest.get("chain") != chain:
            raise Bad(f"{what} is of chain {manifest.get('chain')}, not {chain}.")
        if manifest.get("first_seq") != seq + 1 or manifest.get("prev_hash") != head \
                or manifest.get("prev_sha256") != sha:
            raise Bad(f"{what} does not follow the archive before it (which ends at event "
                      f"{seq}): an archive is missing or was replaced.")
        seq, head, sha = manifest["last_seq"], manifest["head_hash"], manifest["sha256"]
    return seq, head


def _first_seq(manifest):
    value = manifest.get("first_seq", 0) if isinstance(manifest, dict) else 0
    return value if isinstance(value, int) else 0


def _archived_through(manifests):
    """The last seq the manifests claim to hold (checked later by check_archives)."""
    ends = [m.get("last_seq") for m in manifests if isinstance(m, dict)]
    return max((e for e in ends if isinstance(e, int)), default=0)


def verify_archive_file(path, events, manifest, earlier, keys, checkpoints=()):
    """An archive file against its manifest (and, given, the manifests before it and the
    chain's checkpoints: those it holds must match)."""
    if not isinstance(manifest, dict) or manifest.get("type") != "lockbox.archive":
        raise Unreadable("the --manifest file is not a Lockbox archive manifest.")
    chain = manifest.get("chain")
    if earlier:
        check_archives([*earlier, manifest], keys, chain)
    else:
        check_signature(manifest, keys, "the archive manifest")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != manifest.get("sha256"):
        raise Bad("the archive file is not the one its manifest signs (its SHA-256 differs).")
    seen = {}

    def noted(runs):
        # The first event's seq and link, the last event's seq and hash, and the count, taken
        # as the runs stream past to verify_export.
        for run in runs:
            _chain, seq, last, prev_hash, _digest, _matches, _source, digests = run
            if "first" not in seen:
                seen["first"], seen["prev_hash"] = seq, prev_hash
            seen["last"], seen["head"] = last, digests[-1]
            seen["count"] = seen.get("count", 0) + last - seq + 1
            yield run

    summary = verify_export(noted(events), checkpoints, keys, partial=True)
    first, last = manifest["first_seq"], manifest["last_seq"]
    if seen.get("first") != first or seen.get("last") != last \
            or seen.get("count") != manifest.get("count"):
        raise Bad(f"the archive file does not hold exactly events {first} to {last}.")
    if seen["prev_hash"] != _ascii(manifest["prev_hash"]):
        raise Bad(f"event {first} does not link to the archive before it.")
    if seen["head"] != _ascii(manifest["head_hash"]):
        raise Bad(f"event {last} is not the head its manifest signs.")
    return summary.replace(
        "verified", f"verified against the archive manifest signed {manifest['created_at']} "
        f"by key {manifest['signature']['key_id']}", 1)


def verify_export(events, checkpoints, keys, *, partial=False, archives=()):
    """Returns a summary line; raises Bad naming the first problem.

    `events` are read once, in file order, however many (read_export gives them one at a time):
    every check below is kept for the end and raised in the order a reader expects (input that
    is not one chain, then events out of order, then a broken link, then the checkpoints)."""
    archived_claim = _archived_through(archives)
    wanted = {c.get("seq") for c in checkpoints} | {archived_claim}
    after_archive = None  # the link of event archived_claim + 1, when a run starts there
    first_chain = first_seq = previous_seq = previous_hash = None
    chains, signed_hashes = set(), {}
    count, out_of_order, broken = 0, None, None
    genesis = GENESIS.encode()
    for chain, seq, last, prev_hash, digest, matches, source, digests in events:
        # A run of events seq to last, each linked to the one before it (or a single one).
        count += last - seq + 1
        if chain != first_chain:
            chains.add(chain)
            if first_chain is None:
                first_chain, first_seq = chain, seq
        if seq == archived_claim + 1:
            after_archive = prev_hash
        if last == seq:
            if seq in wanted:
                signed_hashes[seq] = digest
        else:
            signed_hashes.update((s, digests[s - seq]) for s in wanted
                                 if isinstance(s, int) and seq <= s <= last)
        if out_of_order is None and previous_seq is not None and seq <= previous_seq:
            out_of_order = (f"event {seq} comes after event {previous_seq}: events were "
                            "reordered or repeated.")
        if broken is None:
            if not matches:
                broken = (f"event {seq} ({_action(source)}) does not match its hash: it was "
                          "altered.")
            elif previous_seq is None:
                if seq == 1 and prev_hash != genesis:
                    broken = "event 1 does not start the chain."
            elif seq == previous_seq + 1:
                if prev_hash != previous_hash:
                    broken = (f"event {seq} does not link to event {previous_seq}: an event "
                              "was inserted, replaced or moved.")
            elif not partial:
                broken = f"event {previous_seq + 1} is missing (the next one is {seq})."
        previous_seq, previous_hash = last, digest
    if not count:
        raise Unreadable("the export holds no events.")
    if len(chains) > 1:
        raise Unreadable(f"the export mixes {len(chains)} chains; export one chain at a time.")
    chain, last_seq = first_chain, previous_seq
    archived, archived_head = check_archives(archives, keys, chain)
    if archived and first_seq > archived + 1:
        raise Bad(f"events {archived + 1} to {first_seq - 1} are in neither the archives "
                  f"(which end at event {archived}) nor the export.")
    if not partial and not archived and first_seq != 1:
        raise Bad(f"the export starts at event {first_seq}, not 1 "
                  "(use --partial for the results of a search, --archive for archived events).")
    if archived:
        head = _ascii(archived_head)
        if archived in signed_hashes and signed_hashes[archived] != head:
            raise Bad(f"event {archived} differs from the head its archive manifest signs.")
        if after_archive is not None and after_archive != head:
            raise Bad(f"event {archived + 1} does not link to the archived head (event "
                      f"{archived}): the chain was rewritten after it was archived.")
    for problem in (out_of_order, broken):
        if problem:
            raise Bad(problem)
    mine = [c for c in checkpoints if c.get("chain") == chain]
    signed_seqs = {c.get("seq") for c in mine}
    for checkpoint in mine:
        check_signature(checkpoint, keys, f"the checkpoint at {checkpoint.get('seq')}")
        # Version 2 checkpoints name the one before them (0 for the first): a download holds
        # every checkpoint of the chain, so a gap means some were deleted before it was made.
        prev_seq = checkpoint.get("prev_seq")
        if prev_seq and prev_seq not in signed_seqs:
            raise Bad(f"the checkpoint at {checkpoint['seq']} follows one at {prev_seq}, which "
                      "is missing from the checkpoints file: checkpoints were deleted.")
        seq = checkpoint["seq"]
        if seq in signed_hashes and signed_hashes[seq] != _ascii(checkpoint["hash"]):
            raise Bad(f"event {seq} differs from the checkpoint signed {checkpoint['signed_at']}"
                      ": the chain was rewritten.")
        if not partial and seq > last_seq:
            raise Bad(f"the export ends at event {last_seq}, but the checkpoint signed "
                      f"{checkpoint['signed_at']} vouches for {seq}: events "
                      f"{last_seq + 1} to {seq} were removed.")
    newest = max(mine, key=lambda c: c["seq"]) if mine else None
    vouched = (f"; matches the checkpoint at event {newest['seq']} signed "
               f"{newest['signed_at']} by key {newest['signature']['key_id']}" if newest
               else "; no checkpoint of this chain was given")
    if archived:
        vouched += f"; continues from {len(archives)} signed archive(s) through event {archived}"
    return f"OK: {count} events of {chain} verified{vouched}."


def _action(source):
    """The action of an event, from its decoded form or its line."""
    return (source if isinstance(source, dict) else json.loads(source))["action"]


def verify_receipt(receipt, keys):
    if receipt.get("type") != "lockbox.decision_receipt":
        raise Unreadable("this is not a Lockbox decision receipt.")
    check_signature(receipt, keys, "the receipt")
    grant = receipt.get("grant")
    window = f", access {grant['starts_at']} to {grant['ends_at']}" if grant else ""
    return (f"OK: {receipt['person']['email']} decided {receipt['decision']} on request "
            f"{receipt['request_id']} of {receipt['tenant']} at {receipt['decided_at']}"
            f"{window}.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", nargs="?", help="an audit export (.csv or .jsonl)")
    parser.add_argument("--checkpoints", help="checkpoints.json from the portal")
    parser.add_argument("--keys", required=True, help="keys.json from the portal")
    parser.add_argument("--receipt", help="a decision receipt (.json) instead of an export")
    parser.add_argument("--partial", action="store_true",
                        help="the export is the result of a search, not the whole chain")
    parser.add_argument("--archive", action="append", default=[], metavar="MANIFEST",
                        help="the manifest of an archive of the chain's oldest events "
                             "(repeat for each, from the first)")
    parser.add_argument("--manifest", help="the export is an archive file: check it against "
                                           "this manifest")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(read_json(args.keys, "keys"))
        if args.receipt:
            print(verify_receipt(read_json(args.receipt, "receipt"), keys))
            return 0
        if not args.export:
            parser.error("give an export file, or --receipt")
        checkpoints = (read_json(args.checkpoints, "checkpoints").get("checkpoints", [])
                       if args.checkpoints else [])
        archives = [read_json(path, "archive manifest") for path in args.archive]
        if args.manifest:
            print(verify_archive_file(args.export, read_export(args.export),
                                      read_json(args.manifest, "archive manifest"), archives,
                                      keys, checkpoints))
            return 0
        print(verify_export(read_export(args.export), checkpoints, keys,
                            partial=args.partial, archives=archives))
        return 0
    except Bad as bad:
        print(f"FAILED: {bad}")
        return 1
    except Unreadable as unreadable:
        print(f"CANNOT VERIFY: {unreadable}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
