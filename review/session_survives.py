"""A stolen staff cookie outlives (1) signing out and (2) the password being changed the only
way there is (users remove, then users add with a new password)."""

import re
import subprocess
import sys
import time

import requests

sys.path.insert(0, ".")
from tests.harness import dash_calls

base = sys.argv[1]


def deleton(*args, stdin=None):
    return subprocess.run([".venv/bin/deleton", *args], input=stdin, capture_output=True, text=True)


victim = requests.Session()
csrf = re.search(r'name="csrf" value="([^"]+)"', victim.get(f"{base}/login").text).group(1)
r = victim.post(
    f"{base}/login",
    data={"csrf": csrf, "name": "ada", "password": "a long enough password!", "next": "/fleet"},
    allow_redirects=False,
)
print("victim signs in:", r.status_code, r.headers.get("Location"))
stolen = victim.cookies.get("deleton_session")
thief = requests.Session()
thief.cookies.set("deleton_session", stolen)


def thief_sees():
    r = thief.post(f"{base}/_dash-update-component", json=dash_calls.fleet_tick())
    return r.status_code


print("thief with the copied cookie, fleet update:", thief_sees())
# (1) the victim signs out
layout = victim.get(f"{base}/_dash-layout").text
token = re.search(r'"name":"csrf".*?"value":"([^"]+)"|"value":"([^"]+)"[^}]*"name":"csrf"', layout)
token = token.group(1) or token.group(2)
r = victim.post(f"{base}/logout", data={"csrf": token}, allow_redirects=False)
print(
    "victim signs out:",
    r.status_code,
    r.headers.get("Location"),
    "; victim's update now:",
    victim.post(f"{base}/_dash-update-component", json=dash_calls.fleet_tick()).status_code,
)
print("thief after the sign-out:", thief_sees())
# (2) the administrator changes ada's password the only way the CLI offers
print(deleton("users", "remove", "ada").stderr.strip().splitlines()[-1])
print(
    deleton(
        "users",
        "add",
        "ada",
        "--role",
        "staff",
        "--password-stdin",
        stdin="a brand new password!!\n",
    )
    .stderr.strip()
    .splitlines()[-1]
)
for wait in (0, 11):
    time.sleep(wait)
    print(f"thief {wait} s after the password change:", thief_sees())
