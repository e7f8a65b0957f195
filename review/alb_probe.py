"""The ALB header's verifier with a fake key server: what reaches the fetch, what is refused."""

import base64
import json
import time

from joserfc.jwk import ECKey

from deleton.dashboard.alb import AlbIdentity

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/x/1"
key = ECKey.generate_key("P-256")
pem = key.as_pem(private=False)
fetched = []


def fetch(url):
    fetched.append(url)
    return pem


alb = AlbIdentity(
    ARN, "https://public-keys.auth.elb.eu-west-2.amazonaws.com/", "groups", fetch=fetch
)


def b64(b):
    return base64.urlsafe_b64encode(b).decode()


def token(header, claims, sign=True, sig=None):
    h, c = b64(json.dumps(header).encode()), b64(json.dumps(claims).encode())
    from joserfc.jws import JWSRegistry

    alg = JWSRegistry(algorithms=["ES256"]).get_alg("ES256")
    s = sig if sig is not None else alg.sign(f"{h}.{c}".encode(), key)
    return f"{h}.{c}.{b64(s)}"


now = time.time()
good_h = {"alg": "ES256", "kid": "k1", "signer": ARN, "exp": now + 60}
claims = {"sub": "x", "groups": ["deleton-staff"], "exp": now + 60}
cases = {
    "good": token(good_h, claims),
    "alg none": token({**good_h, "alg": "none"}, claims, sig=b""),
    "alg HS256": token({**good_h, "alg": "HS256"}, claims),
    "kid ../../evil": token({**good_h, "kid": "../../evil"}, claims),
    "kid @evil.com/": token({**good_h, "kid": "@evil.com/x"}, claims),
    "kid %2e%2e": token({**good_h, "kid": "%2e%2e%2fx"}, claims),
    "signer other": token({**good_h, "signer": ARN + "0"}, claims),
    "no exp": token(
        {k: v for k, v in good_h.items() if k != "exp"},
        {k: v for k, v in claims.items() if k != "exp"},
    ),
    "exp true": token({**good_h, "exp": True}, {**claims, "exp": True}),
    "short sig": token(good_h, claims, sig=b"\x00" * 10),
    "groups string": token(good_h, {**claims, "groups": "deleton-staff,other"}),
    "groups missing": token(good_h, {k: v for k, v in claims.items() if k != "groups"}),
    "4 segments": token(good_h, claims) + ".x",
}
for label, t in cases.items():
    v = alb.viewer(t)
    print(f"{label:16s} -> {v.role if v else None}")
print("fetched:", fetched)
fetched.clear()
for i in range(5):
    alb.viewer(token({**good_h, "kid": f"random{i}"}, claims, sig=b"\x00" * 64))
    alb.viewer(token({**good_h, "kid": "unknown"}, claims, sig=b"\x00" * 64))
print(
    "forged headers with unknown kids cause",
    len(fetched),
    "key fetches (no negative cache):",
    fetched[:3],
)
