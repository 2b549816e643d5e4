#!/usr/bin/env python3
"""An independent peer for the relay: Python `websockets` over the system's ssl module.

Usage: relay_chat_check.py PORT ROOT_CA ORDER_NUMBER CARD_KEY
Chats in Chinese with `kamirelay serve --demo`, checks the protocol, that the card key and the
phone number come back masked, and that a resent message is not answered twice; then that a
browser page from a foreign site (its Origin header) cannot open a chat. Exit 0 on success.
"""
import asyncio, json, ssl, sys

import websockets

# Seconds to wait for a frame. Only bounds a hang: on a loaded CI machine the debug server can
# take many seconds to answer, and a short timeout then fails a relay that is merely slow.
TIMEOUT = 120


async def main(port, root_ca, order, card_key):
    context = ssl.create_default_context(cafile=root_ca)
    phone = "13912345678"
    seen = []
    async with websockets.connect(f"wss://localhost:{port}/chat", ssl=context) as ws:
        async def receive():
            frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            seen.append(frame)
            return frame

        await ws.send(json.dumps({"type": "hello", "language": "zh"}))
        welcome = await receive()
        assert welcome["type"] == "welcome" and welcome["tenant"] == "demo", welcome
        greeting = await receive()
        assert greeting["role"] == "bot", greeting

        await ws.send(json.dumps({"type": "message", "client_id": "p1", "text": f"订单{order}发货了吗"}))
        echo = await receive()
        assert echo["role"] == "customer" and echo["client_id"] == "p1", echo
        answer = await receive()
        assert answer["role"] == "bot" and answer["text"], answer
        print("bot:", answer["text"])

        await ws.send(json.dumps({"type": "message", "client_id": "p2", "text": f"卡密{card_key}无效，电话{phone}"}))
        echo = await receive()
        assert "[CARD_KEY]" in echo["text"] and "[PHONE" in echo["text"], echo
        notice = await receive()
        assert notice["type"] == "redacted" and set(notice["types"]) == {"card_key", "phone"}, notice
        print("notice:", notice["notice"])
        answer = await receive()
        assert answer["role"] == "bot", answer

        await ws.send(json.dumps({"type": "message", "client_id": "p2", "text": "resent"}))
        duplicate = await receive()
        assert duplicate["type"] == "duplicate", duplicate

        await ws.send(json.dumps({"type": "bye"}))
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosedOK as closed:
            assert closed.rcvd.code == 1000, closed
    everything = json.dumps(seen, ensure_ascii=False)
    assert card_key not in everything and phone not in everything
    print(f"ok: {len(seen)} frames, card key and phone masked")

    # The relay's own page may open the chat; a foreign site's page may not (403 before the upgrade).
    async with websockets.connect(f"wss://localhost:{port}/chat", ssl=context, origin=f"https://localhost:{port}") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "welcome"
    try:
        async with websockets.connect(f"wss://localhost:{port}/chat", ssl=context, origin="https://evil.example"):
            raise AssertionError("a foreign Origin was let in")
    except AssertionError:
        raise
    except Exception as refused:  # InvalidStatusCode (websockets ≤ 13) or InvalidStatus (14+)
        status = getattr(refused, "status_code", None) or getattr(getattr(refused, "response", None), "status_code", None)
        assert status == 403, repr(refused)
    print("ok: foreign Origin refused with 403")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
