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
import itertools
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

def read_export(path):
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if not text.strip():
        raise Unreadable(f"{path} is empty.")
    if text.lstrip().startswith("{"):
        return _read_jsonl(text)
    return _read_csv(text)


def _read_jsonl(text):
    events = []
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise Unreadable(f"line {number} is not valid JSON (is the file cut short?)") \
                from None
        events.append(_checked(event, f"line {number}"))
    if not text.endswith("\n"):
        raise Unreadable("the file does not end with a newline (is it cut short?)")
    return events


def _read_csv(text):
    rows = list(csv.reader(text.splitlines(keepends=True)))
    if not rows or tuple(rows[0]) != FIELDS:
        raise Unreadable("this is not a Lockbox audit export (unexpected header).")
    if not text.endswith("\n"):
        raise Unreadable("the file does not end with a newline (is it cut short?)")
    events = []
    for number, row in enumerate(rows[1:], 2):
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
        events.append(_checked(event, f"line {number}"))
    return events


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
    for manifest in sorted(manifests, key=lambda m: m.get("first_seq", 0)):
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
    first, last = manifest["first_seq"], manifest["last_seq"]
    if not events or events[0]["seq"] != first or events[-1]["seq"] != last \
            or len(events) != manifest.get("count"):
        raise Bad(f"the archive file does not hold exactly events {first} to {last}.")
    if events[0]["prev_hash"] != manifest["prev_hash"]:
        raise Bad(f"event {first} does not link to the archive before it.")
    if events[-1]["hash"] != manifest["head_hash"]:
        raise Bad(f"event {last} is not the head its manifest signs.")
    return verify_export(events, checkpoints, keys, partial=True).replace(
        "verified", f"verified against the archive manifest signed {manifest['created_at']} "
        f"by key {manifest['signature']['key_id']}", 1)


def verify_export(events, checkpoints, keys, *, partial=False, archives=()):
    """Returns a summary line; raises Bad naming the first problem."""
    if not events:
        raise Unreadable("the export holds no events.")
    chains = {e["chain"] for e in events}
    if len(chains) > 1:
        raise Unreadable(f"the export mixes {len(chains)} chains; export one chain at a time.")
    chain = events[0]["chain"]
    archived, archived_head = check_archives(archives, keys, chain)
    if archived and events[0]["seq"] > archived + 1:
        raise Bad(f"events {archived + 1} to {events[0]['seq'] - 1} are in neither the archives "
                  f"(which end at event {archived}) nor the export.")
    if not partial and not archived and events[0]["seq"] != 1:
        raise Bad(f"the export starts at event {events[0]['seq']}, not 1 "
                  "(use --partial for the results of a search, --archive for archived events).")
    for event in events if archived else ():
        if event["seq"] > archived + 1:
            break
        if event["seq"] == archived and event["hash"] != archived_head:
            raise Bad(f"event {archived} differs from the head its archive manifest signs.")
        if event["seq"] == archived + 1 and event["prev_hash"] != archived_head:
            raise Bad(f"event {archived + 1} does not link to the archived head (event "
                      f"{archived}): the chain was rewritten after it was archived.")
    for before, after in itertools.pairwise(events):
        if after["seq"] <= before["seq"]:
            raise Bad(f"event {after['seq']} comes after event {before['seq']}: events were "
                      "reordered or repeated.")
    previous = None
    for event in events:
        seq = event["seq"]
        if event_hash(event) != event["hash"]:
            raise Bad(f"event {seq} ({event['action']}) does not match its hash: it was "
                      "altered.")
        if previous is None:
            if seq == 1 and event["prev_hash"] != GENESIS:
                raise Bad("event 1 does not start the chain.")
        elif seq == previous["seq"] + 1:
            if event["prev_hash"] != previous["hash"]:
                raise Bad(f"event {seq} does not link to event {previous['seq']}: an event "
                          "was inserted, replaced or moved.")
        elif not partial:
            raise Bad(f"event {previous['seq'] + 1} is missing (the next one is {seq}).")
        previous = event
    by_seq = {e["seq"]: e for e in events}
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
        if seq in by_seq and by_seq[seq]["hash"] != checkpoint["hash"]:
            raise Bad(f"event {seq} differs from the checkpoint signed {checkpoint['signed_at']}"
                      ": the chain was rewritten.")
        if not partial and seq > events[-1]["seq"]:
            raise Bad(f"the export ends at event {events[-1]['seq']}, but the checkpoint signed "
                      f"{checkpoint['signed_at']} vouches for {seq}: events "
                      f"{events[-1]['seq'] + 1} to {seq} were removed.")
    newest = max(mine, key=lambda c: c["seq"]) if mine else None
    vouched = (f"; matches the checkpoint at event {newest['seq']} signed "
               f"{newest['signed_at']} by key {newest['signature']['key_id']}" if newest
               else "; no checkpoint of this chain was given")
    if archived:
        vouched += f"; continues from {len(archives)} signed archive(s) through event {archived}"
    return f"OK: {len(events)} events of {chain} verified{vouched}."


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
