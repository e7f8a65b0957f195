"""Attacker's probes against a running dashboard (deleton up). Usage: probe.py BASE SCREEN_TOKEN"""

import sys

import requests

sys.path.insert(0, "/work/wt/review-signin")
from tests.harness import dash_calls

base, screen = sys.argv[1], sys.argv[2]


def show(label, r):
    print(f"{label:55s} {r.status_code} {r.text[:160]!r}")


s = requests.Session()
r = s.get(f"{base}/screen/{screen}", allow_redirects=False)
show("open screen", r)
print("cookie:", s.cookies.get_dict())
for serial in ("SN0000", "SN0001", "SN0002"):
    r = s.post(f"{base}/_dash-update-component", json=dash_calls.ride_tick(serial))
    show(f"screen ride tick {serial}", r)
r = s.post(f"{base}/_dash-update-component", json=dash_calls.fleet_tick())
show("screen fleet tick", r)
r = s.post(f"{base}/_dash-update-component", json=dash_calls.search("SN"))
show("screen search", r)
for p in ("/fleet", "/bike/SN0001", "/recent", "/", "/leaderboard"):
    r = s.post(f"{base}/_dash-update-component", json=dash_calls.route(p))
    show(f"screen route {p}", r)
    r = s.get(f"{base}{p}", allow_redirects=False)
    show(f"screen GET {p}", r)
r = s.get(f"{base}/_dash-layout")
show("screen layout", r)
