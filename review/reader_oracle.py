"""What the reader login (deleton_reader: the dashboard's and the report's) learns and does
through the definer functions, with no throttle and no log line:
1. every account name, and its role (account_role), password or link-only (password_salt);
2. a password-guessing oracle that checks a whole batch of guesses in one statement: the
   attacker pays argon2 (as they would offline) and the database answers which is right."""

import sys
import time

import psycopg

from deleton.credentials import passwords

url = sys.argv[1]
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("SET ROLE deleton_reader")  # the embedded superuser, acting as the reader
    for name in ("admin", "ada", "bob", "root", "alice"):
        role = conn.execute("SELECT historical.account_role(%s)", [name]).fetchone()[0]
        salt = conn.execute("SELECT historical.password_salt(%s)", [name]).fetchone()[0]
        print(f"{name:6s} role={role!s:6s} salt={salt}")
    salt = conn.execute("SELECT historical.password_salt('ada')").fetchone()[0]
    guesses = [f"guess number {i}" for i in range(200)] + ["a brand new password!!"]
    t0 = time.perf_counter()
    hashes = [passwords.hash_with(g, salt) for g in guesses]  # the attacker's own CPUs/GPUs
    t1 = time.perf_counter()
    (hit,) = conn.execute(
        """SELECT array_agg(i) FROM unnest(%s::text[]) WITH ORDINALITY AS g(h, i)
           WHERE historical.check_password('ada', h) IS NOT NULL""",
        [hashes],
    ).fetchone()
    t2 = time.perf_counter()
    print(
        f"{len(guesses)} guesses: hashing {t1 - t0:.2f} s (attacker's side), one query {t2 - t1:.3f} s;"
        f" right guess index {hit} = {guesses[hit[0] - 1]!r}"
        if hit
        else "no hit"
    )
