"""`python -m bench`: the service's benchmarks, each against a bare baseline.

Suites (``--suite``, comma-separated; all by default, ``--quick`` for a short run):

- sim, sms (inbound): for each database, migrate a fresh database, start
  `uvicorn bench.app:app` (as `outreach serve` runs it) with the SMS channel pointed at a
  zero-latency fake Twilio, then alternate load runs from a separate client process:
  sim is the simulator endpoint (HTTP → bot → database → reply) vs a bare JSON endpoint;
  sms is Twilio's signed inbound webhook (signature check → inbox → bot → outbox rows,
  whose replies the dispatcher sends meanwhile) vs a bare form endpoint.
- schedule: `Enqueuer.fan_out` of one campaign to N contacts vs one plain
  `INSERT … SELECT` of the same rows (rows/s and the process's memory); see
  bench/schedule.py.
- dispatch: 1 or 2 `outreach worker` processes sending M due messages to a fast fake
  Twilio vs a bare HTTP loop posting the same requests (msg/s, exactly once); see
  bench/dispatch.py.
- faults (not in the default set; PostgreSQL): 2 `outreach worker` processes sending a
  campaign to a fake Twilio that ignores idempotency keys, as Twilio does: 3,000 messages
  at 0.2 s per send with one worker SIGKILLed three times; the same with 1,200 Telegram
  messages; 1,000 SMS at 0.4 s per send with a 5 s lease; and 2,000 SMS with PostgreSQL
  (a private cluster) stopped for 5 s after a quarter went out; counts lost messages and
  people texted twice, and the time to drain; see bench/faults.py.
- outage (not in the default set; PostgreSQL): 1 `outreach worker` sending 2,000 SMS
  when Twilio hangs on every request for 60 s (then, a second run, answers 500 to
  every request for 60 s), then recovers: requests during the
  outage, the most open at once, lost, twice, expired, dead-lettered, and the time to
  drain after recovery; see bench/faults.py.

Prints medians over the repeats and the ratio full/bare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the fake Twilio lives with the tests

from bench.db import postgres_reachable, prepare  # noqa: E402
from bench.load import BENCH_TOKEN  # noqa: E402
from tests.factories import free_port  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402


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


INBOUND = ("sim", "sms")
DEFAULT_SUITES = ("sim", "sms", "schedule", "dispatch")
ALL_SUITES = (*DEFAULT_SUITES, "faults", "outage")


def run_inbound(args: argparse.Namespace, specs: list[tuple[str, int]], suites: list[str]) -> None:
    rows = []
    for backend, workers in specs:
        if backend == "sqlite" and workers != 1:
            print("sim/sms: SQLite runs in one process: sqlite:2 skipped", file=sys.stderr)
            continue
        for suite in suites:
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
                            print(f"  {backend}:{workers} {suite} {which} run {i + 1}: {r['rps']:.0f} msg/s, "
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
    print(f"inbound: concurrency {args.concurrency}, {args.seconds:g} s per run, median of {args.repeats} runs; "
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


def run_schedule(args: argparse.Namespace, specs: list[tuple[str, int]]) -> None:
    from bench import schedule

    databases = list(dict.fromkeys(backend for backend, _ in specs))
    sizes = [int(n) for n in args.schedule_sizes.split(",")]
    repeats = {n: args.schedule_repeats if n < 1_000_000 else args.schedule_repeats_1m for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        results = schedule.suite(databases, sizes, repeats, Path(tmp))
    print()
    print("schedule: one campaign (two languages) to N contacts; fan_out = Enqueuer.fan_out "
          "(INSERT … SELECT per 50,000 contact ids), plain = one INSERT … SELECT of the same rows; "
          "medians; RSS of the process doing it (MiB)")
    schedule.print_table(results)
    print("goal: fan_out ≥ 0.5× plain, memory flat from 100,000 to 1,000,000 rows")


def run_dispatch(args: argparse.Namespace, specs: list[tuple[str, int]]) -> None:
    from bench import dispatch

    profile = Path(args.profile).resolve() if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = dispatch.suite(specs, args.dispatch_messages, args.dispatch_repeats, Path(tmp),
                                 free_port(), profile, args.dispatch_backlog)
    print()
    print(f"dispatch: {args.dispatch_messages:,} due SMS replies sent to a zero-latency fake Twilio, "
          f"{dispatch.CONCURRENCY} in flight per process, first to last send, median of "
          f"{args.dispatch_repeats}; workers = `outreach worker` processes, bare = aiohttp loops"
          + (f"; {args.dispatch_backlog:,} more rows due behind them" if args.dispatch_backlog else ""))
    dispatch.print_table(results)
    pg2 = [r for r in results if r["database"] == "postgresql" and r["procs"] == 2 and r["sender"] == "workers"]
    print("goal: workers ≥ 0.5× bare, and ≥ 2,000 msg/s with 2 workers on PostgreSQL"
          + (f" (here {pg2[0]['rate']:,.0f}: {'met' if pg2[0]['rate'] >= 2000 else 'not met'})" if pg2 else ""))
    if any(r["database"] == "sqlite" and r["procs"] > 1 for r in results):
        print("SQLite runs one process in production (`outreach serve` sends the outbox); a "
              "second worker there only shows that claims stay exactly-once across processes")
    if profile is not None:
        print(f"worker profiles in {profile} (python -m pstats FILE)")


def run_faults() -> None:
    import asyncio

    from bench import faults

    if not postgres_reachable():
        print("faults: PostgreSQL not reachable; skipped", file=sys.stderr)
        return
    from tests.fakes.telegram import FakeTelegram

    with tempfile.TemporaryDirectory() as tmp, FakeTwilio() as fake, FakeTelegram() as telegram:
        url = prepare("postgresql", Path(tmp))
        results = [asyncio.run(faults.kill(url, fake))]
        url = prepare("postgresql", Path(tmp))
        results.append(asyncio.run(faults.kill(url, fake, messages=1_200, telegram=telegram)))
        url = prepare("postgresql", Path(tmp))
        results.append(asyncio.run(faults.slow(url, fake)))
        from tests.pg_cluster import missing

        if (why := missing()) is None:
            results.append(asyncio.run(faults.restart(fake)))
        else:
            print(f"faults: restart skipped: {why}", file=sys.stderr)
    print()
    print("faults: PostgreSQL, `outreach worker` processes, a fake Twilio that ignores "
          "idempotency keys (as Twilio does); dupes = people texted twice; sending at kills = "
          "rows claimed by either worker at each kill (at most 20 per worker unsettled), or at "
          "the stop (restart: PostgreSQL down 5 s)")
    faults.print_table(results)
    print("goal: lost 0 in all; dupes 0 on SMS, on Telegram ≤ 20 per kill (the sends unsettled)")


def run_outage() -> None:
    import asyncio

    from bench import faults

    if not postgres_reachable():
        print("outage: PostgreSQL not reachable; skipped", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp, FakeTwilio() as fake:
        url = prepare("postgresql", Path(tmp))
        results = [asyncio.run(faults.outage(url, fake))]
        url = prepare("postgresql", Path(tmp))
        results.append(asyncio.run(faults.outage(url, fake, status=500)))
    print()
    print("outage: PostgreSQL, 1 `outreach worker` (10 requests at once, 10 s Twilio timeout), "
          "Twilio hanging on every request (sends and its Messages list) for 60 s, then "
          "answering 500 to all for 60 s; expired = the tenth of the campaign expiring "
          "half-way through")
    faults.print_outage(results)
    print("goal: lost 0, dupes 0, expired sent 0, dead 0, max in flight ≤ 10, a trickle of "
          "requests during the outage")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql,postgresql:2",
        help="database[:processes], comma-separated: server processes for sim/sms (SQLite runs "
             "one), worker processes for dispatch; schedule uses each database once",
    )
    parser.add_argument("--suite", "--suites", dest="suites", default=",".join(DEFAULT_SUITES),
                        help="any of sim, sms, schedule, dispatch, faults, outage (default: all but faults, outage)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 3 s inbound runs, 100,000 rows only, 5,000 messages, "
                             "one repeat (flags given explicitly still win)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per inbound run (4)")
    parser.add_argument("--warmup", type=float, default=None, help="inbound warm-up seconds (1.5)")
    parser.add_argument("--repeats", type=int, default=None, help="inbound repeats (3)")
    parser.add_argument("--schedule-sizes", default=None, help="N, comma-separated (100000,1000000)")
    parser.add_argument("--schedule-repeats", type=int, default=None, help="repeats below 1,000,000 (3)")
    parser.add_argument("--schedule-repeats-1m", type=int, default=None, help="repeats at 1,000,000 (1)")
    parser.add_argument("--dispatch-messages", type=int, default=None, help="messages per run (10000)")
    parser.add_argument("--dispatch-repeats", type=int, default=None, help="(3)")
    parser.add_argument("--dispatch-backlog", type=int, default=0, metavar="B",
                        help="B more rows due behind the M measured (0)")
    parser.add_argument("--profile", metavar="DIR", help="run dispatch workers under cProfile, "
                        "writing one .prof file per worker run to DIR")
    args = parser.parse_args()
    defaults = {"seconds": 4.0, "warmup": 1.5, "repeats": 3, "schedule_sizes": "100000,1000000",
                "schedule_repeats": 3, "schedule_repeats_1m": 1, "dispatch_messages": 10_000,
                "dispatch_repeats": 3}
    quick = {"seconds": 3.0, "warmup": 1.0, "repeats": 1, "schedule_sizes": "100000",
             "schedule_repeats": 1, "schedule_repeats_1m": 1, "dispatch_messages": 5_000,
             "dispatch_repeats": 1}
    for name, value in (quick if args.quick else defaults).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = set(suites) - set(ALL_SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL_SUITES)}")
    if "sms" in suites and not 1 <= args.concurrency <= 100:
        parser.error("the sms suite gives each client a phone number: --concurrency 1..100")

    specs = []
    for spec in args.backends.split(","):
        backend, _, n = spec.strip().partition(":")
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown database {backend!r}: sqlite or postgresql")
        if backend == "postgresql" and not postgres_reachable():
            print("PostgreSQL is not reachable on 127.0.0.1:5432: skipped", file=sys.stderr)
            continue
        specs.append((backend, int(n or 1)))

    started = time.perf_counter()
    inbound = [s for s in suites if s in INBOUND]
    if inbound:
        run_inbound(args, specs, inbound)
    if "schedule" in suites:
        run_schedule(args, specs)
    if "dispatch" in suites:
        run_dispatch(args, specs)
    if "faults" in suites:
        run_faults()
    if "outage" in suites:
        run_outage()
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
