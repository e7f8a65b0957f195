"""40 wrong passwords for one name from one address, all at once: how many are tried (401)
before the throttle answers (429)? The throttle is checked before the work and counted after."""

import re
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

base, name = sys.argv[1], sys.argv[2]
pairs = []
for _ in range(40):
    s = requests.Session()
    pairs.append(
        (s, re.search(r'name="csrf" value="([^"]+)"', s.get(f"{base}/login").text).group(1))
    )


def go(i):
    s, csrf = pairs[i]
    return s.post(
        f"{base}/login",
        data={"csrf": csrf, "name": name, "password": f"wrong {i}"},
        allow_redirects=False,
    ).status_code


with ThreadPoolExecutor(40) as pool:
    codes = list(pool.map(go, range(40)))
print({c: codes.count(c) for c in sorted(set(codes))}, "(the throttle's free tries: 5)")
