"""One login link, 30 confirmations at once (each its own session): how many sign in?"""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

base = sys.argv[1]
link = subprocess.run(
    [".venv/bin/deleton", "login-link", "bob"], capture_output=True, text=True
).stdout.strip()
path = "/login/" + link.rsplit("/login/", 1)[1]
sessions = []
for _ in range(30):
    s = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', s.get(base + path).text).group(1)
    sessions.append((s, csrf))


def go(pair):
    s, csrf = pair
    return s.post(base + path, data={"csrf": csrf}, allow_redirects=False).status_code


with ThreadPoolExecutor(30) as pool:
    codes = list(pool.map(go, sessions))
print({c: codes.count(c) for c in set(codes)})
