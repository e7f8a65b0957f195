"""On a shared computer: sign in, open the fleet, sign out, press Back. Is the fleet (riders'
names and heart rates) on screen again?"""

import sys

from playwright.sync_api import sync_playwright

base = sys.argv[1]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(f"{base}/login?next=/fleet")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", "a brand new password!!")
    page.click("#signin-submit")
    page.wait_for_selector("#fleet-table, table", timeout=30000)
    page.wait_for_timeout(2500)
    before = page.inner_text("body")
    page.screenshot(path="/tmp/rv/fleet-before.png")
    page.click("#sign-out")
    page.wait_for_url("**/login*")
    page.go_back()
    page.wait_for_timeout(3000)
    after = page.inner_text("body")
    page.screenshot(path="/tmp/rv/fleet-after-back.png")
    print("url after Back:", page.url)
    print("fleet text before sign-out (start):", before[:200].replace("\n", " | "))
    print("text after Back (start):", after[:300].replace("\n", " | "))
    browser.close()
