"""Gate.sign_in_password in-process against the embedded database (throttle off): time of a
wrong password for a name with a password, an unknown name and a link-only name."""

import statistics
import sys
import time

from psycopg_pool import ConnectionPool

from deleton.core.access import Throttle
from deleton.dashboard.gate import Gate
from deleton.settings import Settings

url = sys.argv[1]
with ConnectionPool(url, min_size=1, kwargs={"autocommit": True}) as pool:
    s = Settings(session_secret="x" * 40)
    gate = Gate(s.access(), b"x" * 40, None, pool.connection, throttle=Throttle(free=10**9))
    times = {"ada": [], "nobody": [], "bob": []}
    for i in range(15):
        for name in times:
            t = time.perf_counter()
            assert gate.sign_in_password(name, f"wrong {i}", "x") == "Wrong name or password."
            times[name].append(time.perf_counter() - t)
for name, ts in times.items():
    print(f"{name:7s} median {statistics.median(ts) * 1000:6.1f} ms  min {min(ts) * 1000:6.1f} ms")
