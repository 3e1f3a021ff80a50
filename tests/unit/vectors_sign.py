#!/usr/bin/env python3
"""Independent (stdlib-only) implementation of the userSign token, used to
produce the known vectors pasted into test_sign.c.  Usage:
  vectors_sign.py                  print the vectors
  vectors_sign.py SECRET TOKEN     verify a token made by petrel_sign_make
"""
import base64, hashlib, hmac, json, sys, zlib

def make(secret, app_id, ident, ttl, issued):
    msg = (f"TLS.identifier:{ident}\nTLS.appId:{app_id}\n"
           f"TLS.expireTime:{issued}\nTLS.expire:{ttl}\n")
    sig = base64.b64encode(hmac.new(secret.encode(), msg.encode(),
                                    hashlib.sha256).digest()).decode()
    doc = {"TLS.identifier": ident, "TLS.appId": app_id, "TLS.expire": ttl,
           "TLS.expireTime": issued, "TLS.sig": sig}
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    tok = base64.b64encode(zlib.compress(text.encode())).decode()
    return tok.translate(str.maketrans("+/=", "*-_"))

def verify(secret, token):
    raw = base64.b64decode(token.translate(str.maketrans("*-_", "+/=")), validate=True)
    doc = json.loads(zlib.decompress(raw))
    want = make(secret, doc["TLS.appId"], doc["TLS.identifier"],
                doc["TLS.expire"], doc["TLS.expireTime"])
    return json.loads(zlib.decompress(base64.b64decode(
        want.translate(str.maketrans("*-_", "+/=")))))["TLS.sig"] == doc["TLS.sig"], doc

VECTORS = [
    ("petrel-test-secret", 1400000001, "alice", 86400, 1700000000),
    ("s3cr3t/+=", 2147483647, "user_\u7528\u6237/1", 600, 4102444800),
    ("petrel-test-secret", 1400000001, "x" * 128, 1, 1),
]

if __name__ == "__main__":
    if len(sys.argv) == 3:
        ok, doc = verify(sys.argv[1], sys.argv[2])
        print("OK" if ok else "BAD", doc)
        sys.exit(0 if ok else 1)
    for v in VECTORS:
        print(repr(v), make(*v))
    # signed with the wrong secret, for the tampered-signature test
    print("wrong-secret", make("not-the-secret", 1400000001, "alice", 86400, 1700000000))
