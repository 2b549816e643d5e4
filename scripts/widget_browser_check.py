#!/usr/bin/env python3
"""Drives headless Chromium through the demo widget: greeting, an order question in Chinese, a
message with a phone number and a card key (shown masked), then a server restart and the
widget's reconnect, which resumes the same chat (the page's Origin passes the relay's check).

Usage: widget_browser_check.py KAMIRELAY_BINARY WORK_DIR [SCREENSHOT_DIR]
Needs Debian's chromium, chromium-driver and python3-selenium. Exit 0 on success.
"""
import os, signal, subprocess, sys, time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BIN, WORK = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None
CARD_KEY, PHONE = "ZXCV-BNML-KJHG-FDSA", "13712345678"
# Seconds any single wait may take. Only bounds a hang: on a loaded CI machine (2 cores) the
# debug server and Chromium can take many seconds per step, and every wait returns as soon as
# its condition holds.
TIMEOUT = 120


def start_server(port):
    port_file = os.path.join(WORK, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    log = open(os.path.join(WORK, "widget-server.log"), "a")
    proc = subprocess.Popen([BIN, "serve", "--demo", "--data-dir", os.path.join(WORK, "data"), "--port", str(port),
                             "--port-file", port_file, "--log-level", "info"], stdout=log, stderr=log)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(port_file) and open(port_file).read().strip():
            return proc, int(open(port_file).read())
        time.sleep(0.1)
    raise SystemExit(f"server did not start (exit status {proc.poll()})")


def main():
    server, port = start_server(0)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                "--window-size=390,844", "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, TIMEOUT)
    orders = [line.split()[0] for line in open(os.path.join(WORK, "widget-server.log"), encoding="utf-8")
              if " status 4 " in line]
    try:
        driver.get(f"https://localhost:{port}/")
        status = lambda: driver.find_element(By.CLASS_NAME, "kr-status").get_attribute("data-state")
        wait.until(lambda d: status() == "connected")
        bots = lambda: d_texts(driver, "kr-bot")
        wait.until(lambda d: len(bots()) == 1)
        print("greeting:", bots()[0])
        assert "您好" in bots()[0], "Chinese browser → Chinese chat"

        def say(text, expect_bots):
            box = driver.find_element(By.CLASS_NAME, "kr-input")
            box.send_keys(text)
            driver.find_element(By.CLASS_NAME, "kr-send").click()
            wait.until(lambda d: len(bots()) >= expect_bots)
            return bots()[-1]

        reply = say(f"我的订单{orders[0]}发货了吗？", 2)
        assert orders[0] in reply, reply
        print("order answer:", reply)

        say(f"卡密{CARD_KEY}用不了，我的手机{PHONE}", 3)
        wait.until(lambda d: all(b.get_attribute("data-acknowledged") == "true"
                                 for b in d.find_elements(By.CLASS_NAME, "kr-customer")))
        customer = d_texts(driver, "kr-customer")[-1]
        assert "[CARD_KEY]" in customer and "[PHONE" in customer, customer
        notices = d_texts(driver, "kr-notice")
        assert notices and "卡密" in notices[-1], notices
        page = driver.find_element(By.TAG_NAME, "body").text
        assert CARD_KEY not in page and PHONE not in page, "the page shows the masked text only"
        print("masked:", customer, "|", notices[-1])
        if SHOTS:
            driver.save_screenshot(os.path.join(SHOTS, "widget-chat.png"))

        # Restart the server: the widget sees close 1001, reconnects and resumes the same chat
        # (the resume state is sealed on disk, so the token survives the restart).
        chat = driver.find_element(By.ID, "kamirelay-chat")
        session = chat.get_attribute("data-session")
        before = len(bots())
        server.send_signal(signal.SIGTERM)
        assert server.wait(TIMEOUT) == 0
        wait.until(lambda d: status() == "reconnecting")
        server, _ = start_server(port)
        wait.until(lambda d: status() == "connected")
        assert chat.get_attribute("data-resumed") == "true", "resumed after the restart"
        assert chat.get_attribute("data-session") == session, "the same chat continues"
        assert "（新的会话）" not in d_texts(driver, "kr-system")
        assert len(bots()) == before, "nothing shown twice after the resume"
        reply = say("怎么退款？", before + 1)
        print("after reconnect:", reply)
        if SHOTS:
            driver.save_screenshot(os.path.join(SHOTS, "widget-reconnected.png"))
        # CSAT at the end: End → 5 → thanks, the chat is closed (status "ended").
        driver.find_element(By.CLASS_NAME, "kr-end").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".kr-score[data-score='5']"))
        driver.find_element(By.CSS_SELECTOR, ".kr-score[data-score='5']").click()
        wait.until(lambda d: "感谢您的评价！" in d_texts(driver, "kr-system"))
        wait.until(lambda d: status() == "ended")
        print("ok: widget chat, masking, reconnect, CSAT")
    finally:
        driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(TIMEOUT)


def d_texts(driver, cls):
    return [e.text for e in driver.find_elements(By.CLASS_NAME, cls)]


if __name__ == "__main__":
    main()
