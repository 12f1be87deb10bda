"""`python -m bench`: full message vs bare endpoint, on SQLite and PostgreSQL.

For each database: migrate a fresh database, start `uvicorn bench.app:app` (one process,
as `outreach serve` runs it), then alternate load runs against the bare endpoint and the
simulator endpoint (HTTP → bot → database → reply) from a separate client process. Prints
medians over the repeats and the ratio full/bare.
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
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/outreach_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OUTREACH_ENV": "dev", "OUTREACH_DATABASE_URL": url, "OUTREACH_LOG_LEVEL": "WARNING"}
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


def load(port: int, path: str, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", f"http://127.0.0.1:{port}", path,
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
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for spec in args.backends.split(","):
        backend, _, n = spec.partition(":")
        workers = int(n or 1)
        if backend == "sqlite" and workers != 1:
            raise SystemExit("SQLite runs in one process")
        if backend == "postgresql" and not postgres_reachable():
            print("PostgreSQL is not reachable on 127.0.0.1:5432: skipped", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            url = prepare(backend, Path(tmp))
            port = free_port()
            server = start_server(url, port, workers)
            try:
                runs: dict[str, list[dict[str, float]]] = {"bare": [], "full": []}
                for i in range(args.repeats):
                    for kind, path in (("bare", "/bench/bare"), ("full", "/api/v1/simulator/messages")):
                        r = load(port, path, args)
                        runs[kind].append(r)
                        print(f"  {spec} {kind} run {i + 1}: {r['rps']:.0f} msg/s, "
                              f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms", file=sys.stderr)
            finally:
                server.terminate()
                server.wait(10)
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50_ms", "p99_ms")} for k, v in runs.items()}
        errors = {k: sum(r["errors"] for r in v) for k, v in runs.items()}
        for kind in ("bare", "full"):
            rows.append((backend, workers, kind, med[kind], med[kind]["rps"] / med["bare"]["rps"], errors[kind]))

    print()
    print(f"concurrency {args.concurrency}, {args.seconds:.0f} s per run, median of {args.repeats} runs; "
          "full = POST /api/v1/simulator/messages (HTTP → bot → database → reply)")
    header = (f"{'database':<11} {'procs':>5} {'endpoint':<8} {'msg/s':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'ratio':>6} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for backend, workers, kind, m, ratio, errs in rows:
        print(f"{backend:<11} {workers:>5} {kind:<8} {m['rps']:>8.0f} {m['p50_ms']:>8.1f} "
              f"{m['p99_ms']:>8.1f} {ratio:>6.2f} {errs:>6}")
    print("goal: full ≥ 0.25× bare, full p99 ≤ 50 ms at 50 concurrent clients")
    print("clients are closed-loop (no think time): p50 ≈ clients / throughput (Little's law)")


if __name__ == "__main__":
    main()
