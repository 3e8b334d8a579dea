#!/usr/bin/env python3
"""Checks what `licreg demo` produced with code licreg did not write.

- zbarimg (ZBar) reads each QR PNG; the text must equal url.txt.
- The numeric payload is decoded by this script from docs/qr-payload.md alone.
- pycose (an independent COSE library) verifies each COSE_Sign1 with the key from trust-list.json,
  and the signed trust list (trust-list.signed.cose) with the log key from log.vkey.
- The checkpoint (C2SP signed-note) and the tlog-proof receipt (RFC 9162 inclusion proof) are
  checked by this script's own implementation of those specifications, with `cryptography`.

Usage: verify_demo.py DEMO_DIR
"""
import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pycose.headers import KID
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

DIGITS = {3: 1, 5: 2, 8: 3, 10: 4, 13: 5, 15: 6, 17: 7}


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_digits(text):
    out = bytearray()
    while text:
        width = 17 if len(text) >= 17 else len(text)
        count = DIGITS[width]
        value = int(text[:width])
        assert value < 256 ** count, "chunk out of range"
        out += value.to_bytes(count, "big")
        text = text[width:]
    return bytes(out)


def check_qr(kind_dir):
    url = (kind_dir / "url.txt").read_text().strip()
    scanned = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(kind_dir / "qr.png")],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    assert scanned == url, f"{kind_dir.name}: QR text differs from url.txt"
    payload = url.split("#", 1)[1]
    credential = (kind_dir / "credential.cbor").read_bytes()
    assert decode_digits(payload) == credential, f"{kind_dir.name}: payload is not the credential"
    return credential


def check_cose(kind_dir, credential, trust):
    message = Sign1Message.decode(credential)
    kid = message.get_attr(KID)
    kid_b64 = base64.urlsafe_b64encode(kid).decode().rstrip("=")
    entry = next(k for k in trust["keys"] if k["kid"] == kid_b64)
    message.key = OKPKey(crv=Ed25519, x=b64url(entry["x"]))
    assert message.verify_signature(), f"{kind_dir.name}: pycose rejects the signature"
    claims = cbor2.loads(message.payload)
    assert claims[4] > claims[5], "exp after nbf"
    return claims


def parse_vkey(text):
    name, key_id, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1, "Ed25519 verifier key"
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert expected.hex() == key_id, "vkey id"
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_note(note, vkey):
    name, key_id, public = vkey
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    for line in signatures.splitlines():
        _, signer, blob = line.split(" ")
        raw = base64.b64decode(blob)
        if signer == name and raw[:4] == key_id:
            public.verify(raw[4:], text.encode())
            return text
    raise AssertionError("no signature by the log key")


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    # RFC 9162 section 2.1.3.2
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise AssertionError("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    assert sn == 0 and r == root, "inclusion proof does not reach the root"


def check_receipt(kind_dir, credential, vkey):
    lines = (kind_dir / "receipt.tlog-proof").read_text().split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    entry = base64.b64decode(lines[1].removeprefix("extra "))
    index = int(lines[2].removeprefix("index "))
    blank = lines.index("", 3)
    proof = [base64.b64decode(l) for l in lines[3:blank]]
    checkpoint = "\n".join(lines[blank + 1:])
    text = verify_note(checkpoint, vkey)
    origin, size, root = text.splitlines()[:3]
    assert origin == vkey[0]
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    verify_inclusion(leaf, index, int(size), proof, base64.b64decode(root))
    # docs/ledger.md: [version, seq, timestamp_ms, event, actor, subjects, body, prev_hash];
    # event 4 is `issue`, whose packed body keeps the credential under key 4.
    logged = cbor2.loads(entry)
    assert logged[0] == 1, f"entry format version {logged[0]}"
    body = cbor2.loads(logged[6])
    assert logged[3] == 4 and body[4] == credential, "receipt is for this credential"


def check_signed_trust_list(demo, trust, vkey):
    """The trust list the registry publishes signed: pycose checks the log key's signature."""
    name, _, public = vkey
    message = Sign1Message.decode((demo / "trust-list.signed.cose").read_bytes())
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    message.key = OKPKey(crv=Ed25519, x=raw)
    assert message.verify_signature(), "pycose rejects the trust list's signature"
    document = json.loads(message.payload)
    assert document["type"] == "LicregTrustList" and document["issuer"] == name
    assert document["keys"] == trust["keys"], "the signed list holds the same keys"
    assert document["valid_until"] > document["issued_at"]


def main():
    demo = Path(sys.argv[1])
    trust = json.loads((demo / "trust-list.json").read_text())
    vkey = parse_vkey((demo / "log.vkey").read_text())
    for kind in ["driver", "vehicle", "platform"]:
        kind_dir = demo / kind
        credential = check_qr(kind_dir)
        claims = check_cose(kind_dir, credential, trust)
        check_receipt(kind_dir, credential, vkey)
        print(f"{kind}: QR read by zbarimg, COSE verified by pycose, receipt proves inclusion "
              f"(cti {claims[7].hex()})")
    check_signed_trust_list(demo, trust, vkey)
    print("signed trust list: verified by pycose with the log key")
    print("interop: 4 passed, 0 failed")


if __name__ == "__main__":
    main()
