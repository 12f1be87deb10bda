"""A closed-loop load generator: N concurrent clients, each a migrant in a conversation.

Runs in its own process so that it does not share the server's event loop. Two kinds of
request: the simulator's JSON (``json``) and Twilio's signed inbound-SMS form (``sms``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
from typing import Any

import aiohttp

# One migrant's conversation: onboarding, then rounds of learning, asking and quizzes.
ONBOARDING = ["hi", "2", "1", "1", "2"]
ROUND = [
    "1", "1", "1", "1", "menu",            # learn: topics → topic → lesson → next
    "2", "is the checkup free?", "menu",   # ask
    "3", "1", "2", "3", "1", "2",          # quiz: five answers
    "2", "where can I get free condoms", "menu",
]
BENCH_TOKEN = "bench-auth-token"


def script(rounds: int) -> list[str]:
    return list(itertools.islice(itertools.chain(ONBOARDING, itertools.cycle(ROUND)),
                                 len(ONBOARDING) + len(ROUND) * rounds))


class Requests:
    """Builds one request per message for the chosen kind."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.counter = itertools.count()
        # Each run talks as new people: reusing the last run's contacts would start them
        # mid-conversation and make runs unlike each other.
        self.run = random.randrange(1000)
        if kind == "sms":
            from twilio.request_validator import RequestValidator

            self.validator = RequestValidator(BENCH_TOKEN)

    def build(self, cid: int, generation: int, text: str) -> dict[str, Any]:
        if self.kind == "json":
            return {"json": {"contact": f"bench-{self.run}-{cid}-{generation}", "text": text}}
        sid = f"SM{self.run:03d}{next(self.counter):029x}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                  "From": f"+8613{self.run:03d}{cid:02d}{generation:04d}", "To": "+15005550006",
                  "Body": text, "NumMedia": "0"}
        return {"data": params,
                "headers": {"X-Twilio-Signature": self.validator.compute_signature(self.url, params)}}


async def client(
    session: aiohttp.ClientSession,
    requests: Requests,
    cid: int,
    deadline: float,
    warmup_until: float,
    latencies: list[float],
    errors: list[str],
    rounds_per_contact: int,
) -> None:
    generation = 0
    messages = script(rounds_per_contact)
    while time.perf_counter() < deadline:
        for text in messages:
            request = requests.build(cid, generation, text)
            start = time.perf_counter()
            if start >= deadline:
                return
            try:
                async with session.post(requests.url, **request) as response:
                    body = await response.read()
                    if response.status != 200:
                        errors.append(f"{response.status}: {body[:200]!r}")
                        continue
            except aiohttp.ClientError as exc:
                errors.append(repr(exc))
                continue
            end = time.perf_counter()
            if start >= warmup_until:
                latencies.append(end - start)
        generation += 1


async def run(kind: str, base: str, path: str, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    requests = Requests(kind, base + path)
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        warmup_until = t0 + warmup
        deadline = warmup_until + seconds
        await asyncio.gather(
            *(
                client(session, requests, i, deadline, warmup_until, latencies, errors, 3)
                for i in range(concurrency)
            )
        )
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")

    return {
        "requests": n,
        "rps": n / seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


if __name__ == "__main__":
    kind, base, path = sys.argv[1], sys.argv[2], sys.argv[3]
    concurrency, seconds, warmup = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    print(json.dumps(asyncio.run(run(kind, base, path, concurrency, seconds, warmup))))
