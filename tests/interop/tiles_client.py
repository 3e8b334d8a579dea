#!/usr/bin/env python3
"""An independent C2SP tlog-tiles client, written from the specifications alone.

Fetches BASE/checkpoint, checks its signed-note signature with the log's verifier key, fetches
the level-0 tiles (the leaf hashes), recomputes the RFC 6962 root and compares it with the
checkpoint's, and checks every level-1 hash against the level-0 tile it summarises. It knows
nothing of licreg beyond those specifications: a static server or a bucket can be its BASE.

Usage: tiles_client.py BASE LOG_VKEY_FILE
"""

import base64
import hashlib
import sys
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

WIDTH = 256


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def tile_path(level, index, width=None):
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index > 0:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    path = f"tile/{level}/" + "/".join(reversed(groups))
    return path + (f".p/{width}" if width else "")


def parse_vkey(text):
    name, key_id, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1, "an Ed25519 signed-note verifier key"
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id, "key id"
    return name, bytes.fromhex(key_id), Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(note, vkey):
    name, key_id, public = vkey
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            continue
        signer, sig = line[2:].split(" ", 1)
        blob = base64.b64decode(sig)
        if signer == name and blob[:4] == key_id:
            public.verify(blob[4:], text.encode())  # raises if it does not verify
            origin, size, root = text.splitlines()[:3]
            assert origin == name, "checkpoint origin is the key's name"
            return int(size), base64.b64decode(root)
    raise SystemExit("the checkpoint carries no signature by this key")


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(hashes):
    """RFC 6962 MTH over hashes that are already leaf hashes."""
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node(root(hashes[:split]), root(hashes[split:]))


def tile_hashes(base, level, index, width=None):
    data = fetch(f"{base}/{tile_path(level, index, width)}")
    assert len(data) == 32 * (width or WIDTH), f"tile {level}/{index} length"
    return [data[i:i + 32] for i in range(0, len(data), 32)]


def main():
    base = sys.argv[1].rstrip("/")
    with open(sys.argv[2]) as f:
        vkey = parse_vkey(f.read())
    size, expected = open_checkpoint(fetch(f"{base}/checkpoint").decode(), vkey)
    full, partial = divmod(size, WIDTH)
    tiles = [tile_hashes(base, 0, i) for i in range(full)]
    if partial:
        tiles.append(tile_hashes(base, 0, full, partial))
    leaves = [h for tile in tiles for h in tile]
    assert root(leaves) == expected, "the tiles' root is the checkpoint's"
    level1 = size // WIDTH
    if level1:
        full1, partial1 = divmod(level1, WIDTH)
        summary = [h for i in range(full1) for h in tile_hashes(base, 1, i)]
        if partial1:
            summary += tile_hashes(base, 1, full1, partial1)
        for i, h in enumerate(summary):
            assert h == root(tiles[i]), f"level-1 hash {i} summarises level-0 tile {i}"
    print(f"tiles client: checkpoint of size {size} verified, root recomputed from "
          f"{len(tiles)} level-0 tiles, {level1} level-1 hashes checked")


if __name__ == "__main__":
    main()
