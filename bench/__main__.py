"""`python -m bench`: full message vs bare endpoint, on SQLite and PostgreSQL.

For each database: migrate a fresh database, start `uvicorn bench.app:app` (as `outreach
serve` runs it) with the SMS channel pointed at a zero-latency fake Twilio, then alternate
load runs from a separate client process:

- sim: the simulator endpoint (HTTP → bot → database → reply) vs a bare JSON endpoint;
- sms: Twilio's signed inbound webhook (signature check → inbox → bot → outbox rows,
  whose replies the dispatcher sends meanwhile) vs a bare form endpoint.

Prints medians over the repeats and the ratio full/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the fake Twilio lives with the tests

from bench.load import BENCH_TOKEN  # noqa: E402
from tests.factories import free_port  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/outreach_bench"


async def _fresh_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute("DROP DATABASE IF EXISTS outreach_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE outreach_bench")
    finally:
        await conn.close()


def prepare(backend: str, workdir: Path) -> str:
    from outreach.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        asyncio.run(_fresh_postgres())
        url = PG_BENCH
    upgrade(url)
    return url


def start_server(url: str, port: int, workers: int, twilio_base: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OUTREACH_ENV": "dev",
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_LOG_LEVEL": "WARNING",
        "OUTREACH_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "OUTREACH_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "OUTREACH_TWILIO_AUTH_TOKEN": BENCH_TOKEN,
        "OUTREACH_TWILIO_FROM": "+15005550006",
        "OUTREACH_TWILIO_API_BASE": twilio_base,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


SUITES = {
    "sim": ("json", "/bench/bare", "/api/v1/simulator/messages"),
    "sms": ("sms", "/bench/bare-sms", "/webhooks/twilio/sms"),
}


def load(port: int, kind: str, path: str, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", kind, f"http://127.0.0.1:{port}", path,
         str(args.concurrency), str(args.seconds), str(args.warmup)],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout)
    if result["errors"]:
        print(f"  {path}: {result['errors']} errors, first: {result['first_error']}", file=sys.stderr)
    return result


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql,postgresql:2",
        help="database[:server processes], comma-separated (SQLite runs one process)",
    )
    parser.add_argument("--suites", default="sim,sms", help="sim and/or sms")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if "sms" in args.suites and not 1 <= args.concurrency <= 100:
        parser.error("the sms suite gives each client a phone number: --concurrency 1..100")

    rows = []
    for spec in args.backends.split(","):
        backend, _, n = spec.partition(":")
        workers = int(n or 1)
        if backend == "sqlite" and workers != 1:
            raise SystemExit("SQLite runs in one process")
        if backend == "postgresql" and not postgres_reachable():
            print("PostgreSQL is not reachable on 127.0.0.1:5432: skipped", file=sys.stderr)
            continue
        for suite in args.suites.split(","):
            kind, bare_path, full_path = SUITES[suite]
            with tempfile.TemporaryDirectory() as tmp, FakeTwilio(auth_token=BENCH_TOKEN) as fake:
                url = prepare(backend, Path(tmp))
                port = free_port()
                server = start_server(url, port, workers, fake.base_url)
                try:
                    runs: dict[str, list[dict[str, float]]] = {"bare": [], "full": []}
                    for i in range(args.repeats):
                        for which, path in (("bare", bare_path), ("full", full_path)):
                            fake.reset()  # keep its memory flat across runs
                            r = load(port, kind, path, args)
                            runs[which].append(r)
                            print(f"  {spec} {suite} {which} run {i + 1}: {r['rps']:.0f} msg/s, "
                                  f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms", file=sys.stderr)
                finally:
                    server.terminate()
                    server.wait(10)
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50_ms", "p99_ms")}
                   for k, v in runs.items()}
            errors = {k: sum(r["errors"] for r in v) for k, v in runs.items()}
            for which in ("bare", "full"):
                rows.append((backend, workers, f"{suite}-{which}", med[which],
                             med[which]["rps"] / med["bare"]["rps"], errors[which]))

    print()
    print(f"concurrency {args.concurrency}, {args.seconds:.0f} s per run, median of {args.repeats} runs; "
          "sim-full = POST /api/v1/simulator/messages, sms-full = POST /webhooks/twilio/sms")
    header = (f"{'database':<11} {'procs':>5} {'endpoint':<9} {'msg/s':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'ratio':>6} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for backend, workers, kind, m, ratio, errs in rows:
        print(f"{backend:<11} {workers:>5} {kind:<9} {m['rps']:>8.0f} {m['p50_ms']:>8.1f} "
              f"{m['p99_ms']:>8.1f} {ratio:>6.2f} {errs:>6}")
    print("goal: full ≥ 0.25× bare, full p99 ≤ 50 ms at 50 concurrent clients")
    print("clients are closed-loop (no think time): p50 ≈ clients / throughput (Little's law)")


if __name__ == "__main__":
    main()
