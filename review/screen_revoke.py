"""A screen's session and its link after --revoke, and after a new link is made."""

import subprocess
import sys
import time

import requests

sys.path.insert(0, ".")
from tests.harness import dash_calls

base = sys.argv[1]


def deleton(*a):
    return subprocess.run([".venv/bin/deleton", *a], capture_output=True, text=True)


link = deleton("screen-link", "SN0002").stdout.strip()
token = link.rsplit("/screen/", 1)[1]
kiosk = requests.Session()
print("open:", kiosk.get(f"{base}/screen/{token}").status_code)
tick = lambda s: (
    s.post(f"{base}/_dash-update-component", json=dash_calls.ride_tick("SN0002")).status_code
)
print("tick:", tick(kiosk))
deleton("screen-link", "--revoke", "SN0002")
t0 = time.time()
while tick(kiosk) == 200 and time.time() - t0 < 30:
    time.sleep(0.5)
print(f"kiosk refused after {time.time() - t0:.1f} s with", tick(kiosk))
print("old link reopened:", requests.get(f"{base}/screen/{token}").status_code)
new = deleton("screen-link", "SN0002").stdout.strip().rsplit("/screen/", 1)[1]
print(
    "new link differs:",
    new != token,
    "; old link after a new one:",
    requests.get(f"{base}/screen/{token}").status_code,
    "; old session after a new one:",
    tick(kiosk),
)
