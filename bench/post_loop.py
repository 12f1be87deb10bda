"""The dispatch suite's baseline: a bare aiohttp loop posting messages to the fake Twilio.

The same request the Twilio SDK makes for one outbox row (form fields To, Body,
StatusCallback, From; Basic auth; idempotency token; the SDK's headers), ``concurrency``
in flight, no database, no SDK: the ceiling a sender on this machine and this fake can
reach. Several processes can run at once (``start_at`` lines them up); the fake's own
counters give the rate.

Run: ``python -m bench.post_loop BASE_URL COUNT CONCURRENCY START_AT KEY_PREFIX``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from bench.fast_twilio import ACCOUNT_SID, API_VERSION, AUTH_TOKEN

BODIES = {
    "en": "Reminder: free HIV and STI checkups this Saturday at the community clinic. Reply 1 to book.",
    "zh_Hans": "提醒：本周六社区诊所提供免费艾滋病和性病检测。回复1预约。",
}


def _basic_auth(login: str, password: str) -> str:
    encode = getattr(aiohttp, "encode_basic_auth", None)  # aiohttp >= 3.14
    return encode(login, password) if encode else aiohttp.BasicAuth(login, password).encode()


async def run(base: str, count: int, concurrency: int, start_at: float, prefix: str) -> dict[str, int]:
    url = f"{base}/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages.json"
    headers = {
        "User-Agent": "twilio-python/9 (Linux x86_64) Python/3", "X-Twilio-Client": "python-9",
        "Accept-Charset": "utf-8", "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "Authorization": _basic_auth(ACCOUNT_SID, AUTH_TOKEN),
    }
    todo = iter(range(count))
    errors = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in todo:
            form = {"To": f"+86139{i:08d}", "Body": BODIES["en" if i % 2 else "zh_Hans"],
                    "StatusCallback": "http://127.0.0.1:9/webhooks/twilio/status",
                    "From": "+15005550006"}
            async with session.post(url, data=form, headers={
                **headers, "I-Twilio-Idempotency-Token": f"{prefix}:{i}"}) as response:
                payload = await response.text()
                if response.status != 201:
                    errors += 1
                else:
                    json.loads(payload)  # the SDK parses every answer too

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return {"sent": count, "errors": errors}


if __name__ == "__main__":
    base, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start_at, prefix = float(sys.argv[4]), sys.argv[5]
    print(json.dumps(asyncio.run(run(base, count, concurrency, start_at, prefix))))
