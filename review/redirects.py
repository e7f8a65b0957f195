"""next= variants after a real password sign-in: where does the browser go?"""

import re
import sys

import requests

base = sys.argv[1]
variants = [
    "//evil.com",
    "/\\evil.com",
    "/\t/evil.com",
    "/%09/evil.com",
    "/\n/evil.com",
    "/ /evil.com",
    "https://evil.com",
    "/%2F%2Fevil.com",
    "/.//evil.com",
    "/\x00/evil.com",
    "/\r\n/evil.com",
    "/;/evil.com",
    "/%5Cevil.com",
    "/\u3002evil.com",
    "/\uff0f/evil.com",
    "/..//evil.com",
]
for v in variants:
    s = requests.Session()
    page = s.get(f"{base}/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = s.post(
        f"{base}/login",
        data={"csrf": csrf, "name": "ada", "password": "a long enough password!", "next": v},
        allow_redirects=False,
    )
    print(repr(v), r.status_code, repr(r.headers.get("Location")))
