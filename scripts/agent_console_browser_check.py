#!/usr/bin/env python3
"""Drives the agent console in headless Chromium against `kamirelay serve --demo`, with a
customer on a Python `websockets` client: the customer asks for a human, the agent logs in,
sees the chat queued, takes it, the two exchange messages (with typing indicators), a card key
the customer types shows masked on the agent's screen, and the agent hands the chat back to
the bot, which answers the customer's next question. Then a second customer on the chat widget
in a second browser is taken, sees the agent typing and replying, and is asked for a CSAT score
when the agent closes the chat. Last, a third customer's chat is taken and then erased with
`kamirelay erase` (a separate process) while the relay serves: the customer gets `chat_closed`,
the chat leaves the console, which shows the erasure notice.

Usage: agent_console_browser_check.py KAMIRELAY_BINARY WORK_DIR [SCREENSHOT_DIR]
Needs Debian's chromium, chromium-driver, python3-selenium and python3-websockets. Exit 0 on success.
"""
import asyncio, json, os, queue, re, signal, ssl, subprocess, sys, threading, time

import websockets
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BIN, WORK = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None
CARD_KEY = "ZXCV-BNML-KJHG-FDSA"
ERASE_EMAIL = "erase.me.browser@example.com"
LOG = os.path.join(WORK, "agent-console-server.log")
# Seconds any single wait may take. Only bounds a hang: on a loaded CI machine (2 cores) the
# debug server and Chromium can take many seconds per step, and every wait returns as soon as
# its condition holds.
TIMEOUT = 120


def start_server():
    port_file = os.path.join(WORK, "port")
    log = open(LOG, "a")
    proc = subprocess.Popen([BIN, "serve", "--demo", "--data-dir", os.path.join(WORK, "data"), "--port", "0",
                             "--port-file", port_file, "--log-level", "info"], stdout=log, stderr=log)
    deadline = time.monotonic() + TIMEOUT
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"server did not start (exit status {proc.poll()})")
        time.sleep(0.1)
    port = int(open(port_file).read())
    while time.monotonic() < deadline:
        match = re.search(r"username: (\S+)\s+password: (\S+)", open(LOG, encoding="utf-8").read())
        if match:
            return proc, port, match.group(1), match.group(2)
        time.sleep(0.1)
    raise SystemExit("the demo did not print the agent account")


class Customer:
    """A chat customer on Python websockets, driven from this (synchronous) script."""

    def __init__(self, port):
        self.port = port
        self.frames = queue.Queue()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.ws = self.run(self.connect())

    def run(self, coroutine, timeout=TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def connect(self):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        ws = await websockets.connect(f"wss://localhost:{self.port}/chat", ssl=context)
        asyncio.ensure_future(self.read(ws))
        return ws

    async def read(self, ws):
        async for message in ws:
            self.frames.put(json.loads(message))

    def send(self, frame):
        self.run(self.ws.send(json.dumps(frame, ensure_ascii=False)))

    def until(self, predicate, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while True:
            frame = self.frames.get(timeout=max(0.1, deadline - time.time()))
            if predicate(frame):
                return frame

    def close(self):
        try:
            self.run(self.ws.close(), timeout=5)
        except Exception:
            pass


def main():
    server, port, username, password = start_server()
    print("demo agent account printed:", username)
    customer = Customer(port)
    customer.send({"type": "hello", "language": "zh"})
    session = customer.until(lambda f: f["type"] == "welcome")["session"]
    customer.send({"type": "message", "client_id": "c1", "text": "转人工"})
    customer.until(lambda f: f["type"] == "handoff" and f["state"] == "queued")
    place = customer.until(lambda f: f["type"] == "queue")
    print("customer queued at position", place["position"], "expected wait", place["expected_wait_seconds"], "s")

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--window-size=1280,900",
                "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, TIMEOUT)
    console = lambda: driver.find_element(By.ID, "agent-console")
    texts = lambda selector: [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]
    try:
        driver.get(f"https://localhost:{port}/agent")
        wait.until(lambda d: console().get_attribute("data-state") == "login")
        driver.find_element(By.CLASS_NAME, "ac-username").send_keys(username)
        driver.find_element(By.CLASS_NAME, "ac-password").send_keys("wrong password, surely")
        driver.find_element(By.CLASS_NAME, "ac-login-button").click()
        wait.until(lambda d: d.find_element(By.CLASS_NAME, "ac-error").text != "")
        print("wrong password refused:", driver.find_element(By.CLASS_NAME, "ac-error").text)
        box = driver.find_element(By.CLASS_NAME, "ac-password")
        box.clear()
        box.send_keys(password)
        driver.find_element(By.CLASS_NAME, "ac-login-button").click()
        wait.until(lambda d: console().get_attribute("data-state") == "connected")
        cookie = driver.get_cookie("__Host-kamirelay-agent")
        assert cookie and cookie["httpOnly"] and cookie["secure"] and cookie.get("sameSite") == "Strict", cookie
        assert driver.execute_script("return document.cookie").find("kamirelay-agent") < 0, "HttpOnly: invisible to scripts"

        entry = f".ac-entry[data-session='{session}']"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, entry + "[data-state='queued']"))
        row = driver.find_element(By.CSS_SELECTOR, entry)
        print("queue shows:", row.text.replace("\n", " | "))
        row.click()
        wait.until(lambda d: d.find_elements(By.CLASS_NAME, "ac-take"))
        wait.until(lambda d: "转人工" in texts(".ac-msg.customer"))
        driver.find_element(By.CLASS_NAME, "ac-take").click()
        customer.until(lambda f: f["type"] == "handoff" and f["state"] == "agent_joined")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, entry + "[data-state='active']"))
        wait.until(lambda d: d.find_element(By.CLASS_NAME, "ac-input").is_enabled())
        print("taken; the customer was told an agent joined")

        # Customer → agent: typing indicator, then a message with a card key (masked on screen).
        customer.send({"type": "typing"})
        wait.until(lambda d: d.find_element(By.CLASS_NAME, "ac-typing").text != "")
        print("agent sees:", driver.find_element(By.CLASS_NAME, "ac-typing").text)
        customer.send({"type": "message", "client_id": "c2", "text": f"卡密{CARD_KEY}用不了，怎么办"})
        wait.until(lambda d: any("[CARD_KEY]" in t for t in texts(".ac-msg.customer")))
        page = driver.find_element(By.TAG_NAME, "body").text
        assert CARD_KEY not in page, "the agent's screen shows the card key masked"
        print("agent sees the customer's message:", [t for t in texts(".ac-msg.customer") if "CARD_KEY" in t][0])

        # Agent → customer: typing reaches the customer, then the reply.
        reply_box = driver.find_element(By.CLASS_NAME, "ac-input")
        reply_box.send_keys("您好，我来帮您核实这个卡密。")
        customer.until(lambda f: f["type"] == "typing" and f["role"] == "agent")
        driver.find_element(By.CLASS_NAME, "ac-send").click()
        answer = customer.until(lambda f: f["type"] == "message" and f["role"] == "agent")
        assert "核实" in answer["text"], answer
        wait.until(lambda d: any("核实" in t for t in texts(".ac-msg.agent")))
        print("customer got the agent's reply:", answer["text"])
        if SHOTS:
            driver.save_screenshot(os.path.join(SHOTS, "agent-console-chat.png"))

        # Back to the bot: the customer is told, and the bot answers the next question.
        driver.find_element(By.CLASS_NAME, "ac-return").click()
        customer.until(lambda f: f["type"] == "handoff" and f["state"] == "returned_to_bot")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".ac-msg.system"))
        customer.send({"type": "message", "client_id": "c3", "text": "怎么退款？"})
        bot = customer.until(lambda f: f["type"] == "message" and f["role"] == "bot")
        print("back with the bot:", bot["text"][:60])
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, entry))
        if SHOTS:
            driver.save_screenshot(os.path.join(SHOTS, "agent-console-returned.png"))
        assert CARD_KEY not in open(LOG, encoding="utf-8").read(), "no card key in the server log"
        print("ok: agent console login, queue, take, messages both ways, masking, back to the bot")

        # A second customer in a second browser, on the chat widget: queued, the agent's typing
        # and reply shown, the agent closes the chat with a resolution, the widget asks for CSAT.
        widget = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        widget_wait = WebDriverWait(widget, TIMEOUT)
        try:
            widget.get(f"https://localhost:{port}/")
            widget_wait.until(lambda d: d.find_element(By.CLASS_NAME, "kr-status").get_attribute("data-state") == "connected")
            widget.find_element(By.CLASS_NAME, "kr-input").send_keys("转人工")
            widget.find_element(By.CLASS_NAME, "kr-send").click()
            widget_texts = lambda cls: [e.text for e in widget.find_elements(By.CLASS_NAME, cls)]
            widget_wait.until(lambda d: any("预计等待" in t for t in widget_texts("kr-system")))
            print("widget customer told:", [t for t in widget_texts("kr-system") if "预计等待" in t][0])
            second = widget.find_element(By.ID, "kamirelay-chat").get_attribute("data-session")
            entry2 = f".ac-entry[data-session='{second}']"
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, entry2 + "[data-state='queued']"))
            driver.find_element(By.CSS_SELECTOR, entry2).click()
            wait.until(lambda d: d.find_elements(By.CLASS_NAME, "ac-take"))
            driver.find_element(By.CLASS_NAME, "ac-take").click()
            widget_wait.until(lambda d: any("人工客服已接入" in t for t in widget_texts("kr-system")))
            wait.until(lambda d: d.find_element(By.CLASS_NAME, "ac-input").is_enabled())
            driver.find_element(By.CLASS_NAME, "ac-input").send_keys("您好，请问有什么可以帮您？")
            widget_wait.until(lambda d: d.find_elements(By.CLASS_NAME, "kr-typing"))
            print("widget shows the agent typing:", widget.find_element(By.CLASS_NAME, "kr-typing").text)
            driver.find_element(By.CLASS_NAME, "ac-send").click()
            widget_wait.until(lambda d: any("有什么可以帮您" in t for t in widget_texts("kr-agent")))
            # Agent replies look different from the bot's and carry the label 人工客服.
            agent_bubble = widget.find_elements(By.CLASS_NAME, "kr-agent")[-1]
            bot_bubble = widget.find_elements(By.CLASS_NAME, "kr-bot")[0]
            agent_label = agent_bubble.find_element(By.CLASS_NAME, "kr-label").text
            bot_label = bot_bubble.find_element(By.CLASS_NAME, "kr-label").text
            assert agent_label == "人工客服" and bot_label == "智能客服", (agent_label, bot_label)
            assert agent_bubble.value_of_css_property("background-color") != bot_bubble.value_of_css_property("background-color"), \
                "agent bubbles are visually distinct"
            print("widget labels the agent's reply:", agent_label, "(bot:", bot_label + ")")
            driver.find_element(By.CLASS_NAME, "ac-close").click()
            widget_wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".kr-score[data-score='5']"))
            print("widget asks for CSAT after the agent closed the chat")
            if SHOTS:
                widget.save_screenshot(os.path.join(SHOTS, "agent-console-widget-csat.png"))
            widget.find_element(By.CSS_SELECTOR, ".kr-score[data-score='5']").click()
            widget_wait.until(lambda d: "感谢您的评价！" in widget_texts("kr-system"))
            print("ok: widget customer queued, agent typing and reply shown, closed with CSAT")
        finally:
            widget.quit()

        # Erasure while the chat is on the agent's screen: `kamirelay erase` runs as its own
        # process on the serving relay's data directory; the relay notices within seconds.
        third = Customer(port)
        try:
            third.send({"type": "hello", "language": "zh"})
            erased = third.until(lambda f: f["type"] == "welcome")["session"]
            third.send({"type": "message", "client_id": "e1", "text": "转人工"})
            third.until(lambda f: f["type"] == "queue")
            third.send({"type": "message", "client_id": "e2", "text": f"我的邮箱是 {ERASE_EMAIL}"})
            third.until(lambda f: f["type"] == "message" and f.get("client_id") == "e2")
            entry3 = f".ac-entry[data-session='{erased}']"
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, entry3 + "[data-state='queued']"))
            driver.find_element(By.CSS_SELECTOR, entry3).click()
            wait.until(lambda d: d.find_elements(By.CLASS_NAME, "ac-take"))
            driver.find_element(By.CLASS_NAME, "ac-take").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, entry3 + "[data-state='active']"))
            wait.until(lambda d: any(t.startswith("我的邮箱是") for t in texts(".ac-msg.customer")))
            data = os.path.join(WORK, "data")
            env = dict(os.environ, KAMIRELAY_PASSPHRASE="kamirelay-demo-NOT-FOR-PRODUCTION")
            done = subprocess.run([BIN, "erase", "--data-dir", data, "--keys-dir", os.path.join(data, "keys"), "--tenant", "demo",
                                   "--subject", f"email:{ERASE_EMAIL}", "--request-id", "DSR-BROWSER-1",
                                   "--receipt", os.path.join(WORK, "receipt.json"), "--operator", "check"],
                                  env=env, capture_output=True, text=True, timeout=TIMEOUT)
            assert done.returncode == 0 and "erased 1 session(s)" in done.stdout, (done.returncode, done.stdout, done.stderr)
            closed = third.until(lambda f: f["type"] == "error")
            assert closed["code"] == "chat_closed", closed
            print("customer's open chat closed by the running relay:", closed["code"])
            wait.until(lambda d: "此会话已按数据主体请求删除" in d.find_element(By.CLASS_NAME, "ac-status").text)
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, entry3))
            assert not any("我的邮箱是" in t for t in texts(".ac-msg")), "the erased chat's history left the screen"
            print("agent console shows:", driver.find_element(By.CLASS_NAME, "ac-status").text)
            if SHOTS:
                driver.save_screenshot(os.path.join(SHOTS, "agent-console-erased.png"))
            assert ERASE_EMAIL not in open(LOG, encoding="utf-8").read(), "no e-mail address in the server log"
            print("ok: erasure while served: chat_closed to the customer, chat gone from the console with a notice")
        finally:
            third.close()
    finally:
        customer.close()
        driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(TIMEOUT)


if __name__ == "__main__":
    main()
