"""Drives the IETF SD-JWT reference implementation (PyPI `sd-jwt` 0.10.4, on jwcrypto)
for lienthong's interoperability test: it verifies what lienthong issued and presented,
and issues and presents documents lienthong must verify.

  verify  --issuer-jwk F --doc F [--aud A --nonce N]   prints the verified claims (JSON)
  issue   --issuer-key F --claims F --iss I --vct V --kid K [--holder-jwk F]
  present --doc F --disclose a,b [--holder-key F --aud A --nonce N]
"""

import argparse
import base64
import json
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def pem_key(path):
    pem = read(path).encode()
    try:
        return JWK.from_pem(pem)
    except ValueError:
        # lienthong writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which
        # pyca's parser refuses: take the 32-byte seed after its OCTET STRING header.
        body = b"".join(l for l in pem.splitlines() if not l.startswith(b"-----"))
        der = base64.b64decode(body)
        at = der.index(b"\x04\x22\x04\x20") + 4
        seed = Ed25519PrivateKey.from_private_bytes(der[at : at + 32])
        return JWK.from_pyca(seed)


def verify(a):
    issuer = JWK.from_json(read(a.issuer_jwk))

    def key_for(iss, header):
        if header.get("typ") != "dc+sd-jwt":
            raise ValueError(f"typ {header.get('typ')!r}")
        return issuer

    v = SDJWTVerifier(read(a.doc), key_for, a.aud, a.nonce)
    claims = v.get_verified_payload()
    if claims.get("exp", 0) < time.time():
        raise ValueError("expired")
    print(json.dumps(claims, ensure_ascii=False, sort_keys=True))


def sd_all(value):
    """Every member selectively disclosable, members of nested objects too."""
    if isinstance(value, dict):
        return {SDObj(k): sd_all(v) for k, v in value.items()}
    return value


def issue(a):
    claims = json.loads(read(a.claims))
    now = int(time.time())
    user_claims = {"iss": a.iss, "vct": a.vct, "iat": now, "exp": now + 86400}
    user_claims.update(sd_all(claims))
    holder = JWK.from_json(read(a.holder_jwk)) if a.holder_jwk else None
    issuer = SDJWTIssuer(
        user_claims,
        pem_key(a.issuer_key),
        holder,
        sign_alg="EdDSA",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": a.kid},
    )
    print(issuer.sd_jwt_issuance)


def present(a):
    holder = SDJWTHolder(read(a.doc))
    wanted = {name: True for name in a.disclose.split(",") if name}
    key = pem_key(a.holder_key) if a.holder_key else None
    alg = None
    if key:
        alg = {"EC": "ES256", "OKP": "EdDSA"}[key.key_type]
    holder.create_presentation(wanted, a.nonce, a.aud, key, alg)
    print(holder.sd_jwt_presentation)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--issuer-jwk", required=True)
    v.add_argument("--doc", required=True)
    v.add_argument("--aud")
    v.add_argument("--nonce")
    i = sub.add_parser("issue")
    for name in ("--issuer-key", "--claims", "--iss", "--vct", "--kid"):
        i.add_argument(name, required=True)
    i.add_argument("--holder-jwk")
    r = sub.add_parser("present")
    r.add_argument("--doc", required=True)
    r.add_argument("--disclose", default="")
    r.add_argument("--holder-key")
    r.add_argument("--aud")
    r.add_argument("--nonce")
    a = p.parse_args()
    {"verify": verify, "issue": issue, "present": present}[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the test's message
        print(f"reference implementation: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
