"""A closed-loop load generator: N concurrent clients, each a migrant in a conversation.

Runs in its own process so that it does not share the server's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
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


def script() -> itertools.chain[str]:
    return itertools.chain(ONBOARDING, itertools.cycle(ROUND))


async def client(
    session: aiohttp.ClientSession,
    url: str,
    bare: bool,
    cid: int,
    deadline: float,
    warmup_until: float,
    latencies: list[float],
    errors: list[str],
    rounds_per_contact: int,
) -> None:
    generation = 0
    while time.perf_counter() < deadline:
        contact = f"bench-{cid}-{generation}-{time.time_ns()}"
        messages = list(itertools.islice(script(), len(ONBOARDING) + len(ROUND) * rounds_per_contact))
        for text in messages:
            start = time.perf_counter()
            if start >= deadline:
                return
            try:
                async with session.post(url, json={"contact": contact, "text": text}) as response:
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


async def run(base: str, path: str, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    url = base + path
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        warmup_until = t0 + warmup
        deadline = warmup_until + seconds
        await asyncio.gather(
            *(
                client(session, url, path.endswith("bare"), i, deadline, warmup_until, latencies, errors, 3)
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
    base, path, concurrency, seconds, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    print(json.dumps(asyncio.run(run(base, path, concurrency, seconds, warmup))))
