"""The dispatch suite: `outreach worker` processes draining the outbox vs a bare HTTP loop.

For each database and number of workers: a fresh database with M contacts (not timed)
and a zero-latency fake Twilio in its own process (``bench.fast_twilio``). Then,
alternately, per repeat:

- ``workers``: start W ``outreach worker`` processes (the SMS channel pointed at the
  fake, ``OUTREACH_QUIET_HOURS=off``), wait until each says it runs, then commit M due
  rows (purpose ``reply``) in one transaction and wait until the fake has accepted M
  messages and the outbox has recorded all of them; stop the workers (SIGTERM);
- ``bare``: W processes of ``bench.post_loop``, M/W posts each, the same form body,
  ``send_concurrency`` (10) in flight per process, started together.

With ``backlog`` B, M + B rows are due at once and a run ends after M sends: the rate
while a big campaign waits (the claim has to find the next 100 among all that is due).

Throughput is the fake's count over the time from its first to its last accepted POST.
Exactly-once is checked on every worker run: every message the fake accepted had its
own idempotency token (no repeat), and the outbox holds exactly that many ``queued``
rows and nothing else but ``pending`` ones (M rows, all ``queued``, without a backlog).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.db import BODIES, Db, prepare
from bench.fast_twilio import ACCOUNT_SID, AUTH_TOKEN

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = 10  # OUTREACH_SEND_CONCURRENCY, the worker's default


class Fake:
    """``bench.fast_twilio`` in a subprocess."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fast_twilio", str(port), ACCOUNT_SID, AUTH_TOKEN],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise SystemExit("the fake Twilio did not start")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/stats", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.base_url}/reset", method="POST"),
                               timeout=5).read()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def __enter__(self) -> Fake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rate(stats: dict[str, Any]) -> float:
    span = stats["last"] - stats["first"]
    return (stats["accepted"] - 1) / span if span > 0 else float("nan")


def worker_env(url: str, fake: Fake) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    return env | {
        "OUTREACH_ENV": "dev",
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_LOG_LEVEL": "WARNING",
        "OUTREACH_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "OUTREACH_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "OUTREACH_TWILIO_FROM": "+15005550006",
        "OUTREACH_TWILIO_API_BASE": fake.base_url,
        # Required for the SMS channel to be on (status callbacks); nothing listens there.
        "OUTREACH_PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "OUTREACH_DISPATCH_INTERVAL": "0.1",
        "OUTREACH_QUIET_HOURS": "off",
        "OUTREACH_SEND_CONCURRENCY": str(CONCURRENCY),
    }


def start_workers(n: int, env: dict[str, str], profile_dir: Path | None, tag: str,
                  logs: Path) -> list[subprocess.Popen[str]]:
    """W workers, their stderr in ``logs`` (APScheduler warns of skipped ticks under load)."""
    procs = []
    for i in range(n):
        if profile_dir is None:
            cmd = [str(Path(sys.executable).parent / "outreach"), "worker"]
        else:
            cmd = [sys.executable, "-m", "bench.profile_worker", str(profile_dir / f"{tag}-w{i + 1}.prof")]
        with open(logs / f"worker-{i + 1}.log", "w") as log:
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True))
    for p in procs:
        assert p.stdout is not None
        seen = []
        for line in p.stdout:  # "Outreach worker on …" once it runs
            seen.append(line)
            if "worker on" in line or len(seen) > 50:
                break
        if not seen or "worker on" not in seen[-1]:
            for q in procs:
                q.kill()
            raise SystemExit(f"a worker did not start: {''.join(seen)!r}\n{errors(logs)}")
    return procs


def errors(logs: Path) -> str:
    """What the workers logged at ERROR or above (and tracebacks)."""
    lines = []
    for path in sorted(logs.glob("worker-*.log")):
        text = path.read_text()
        if " ERROR " in text or " CRITICAL " in text or "Traceback" in text:
            lines.append(f"--- {path.name}\n{text[-3000:]}")
    return "\n".join(lines)


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def insert_due(db: Db, m: int) -> None:
    """M due replies, one per contact, committed at once (the workers' starting gun)."""
    from content import segments

    en, zh = segments(BODIES["en"]), segments(BODIES["zh_Hans"])
    if db.sqlite:
        from datetime import UTC, datetime, timedelta

        due = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        now_sql = "?"
        extra: tuple[Any, ...] = (due, due, due)
        due_sql = "?"
    else:
        now_sql, due_sql, extra = "now()", "now() - interval '1 second'", ()
    db.fetch(
        "INSERT INTO outbox (idempotency_key, contact_id, channel, address, purpose, body, "
        "choices, encoding, segments, status, attempts, due_at, created_at, updated_at) "
        "SELECT 'reply:bench:' || CAST(c.id AS VARCHAR), c.id, 'sms', u.path, 'reply', "
        "CASE c.language WHEN 'en' THEN ? ELSE ? END, NULL, "
        "CASE c.language WHEN 'en' THEN ? ELSE ? END, "
        "CASE c.language WHEN 'en' THEN CAST(? AS INTEGER) ELSE CAST(? AS INTEGER) END, "
        f"'pending', 0, {due_sql}, {now_sql}, {now_sql} "
        "FROM contact AS c JOIN contact_urn AS u ON u.contact_id = c.id AND u.scheme = 'tel' "
        "WHERE c.id <= ?",
        BODIES["en"], BODIES["zh_Hans"], en.encoding, zh.encoding, en.segments, zh.segments,
        *extra, m,
    )


def run_workers(db: Db, fake: Fake, m: int, workers: int, profile_dir: Path | None, tag: str,
                logs: Path, backlog: int = 0) -> dict[str, Any]:
    """M messages through W workers; with a backlog, M + backlog rows are due and the
    run stops once M went out (the batches in flight are recorded on SIGTERM)."""
    db.clear_outbox()
    fake.reset()
    procs = start_workers(workers, worker_env(db.url, fake), profile_dir, tag, logs)
    try:
        insert_due(db, m + backlog)
        deadline = time.time() + 60 + m / 50
        while fake.stats()["accepted"] < m and time.time() < deadline:
            time.sleep(0.1)
        while not backlog and db.outbox_statuses().get("queued", 0) < m and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # anything sent twice would show now
    finally:
        stop(procs)
    stats = fake.stats()
    statuses = db.outbox_statuses()
    sent = stats["accepted"]
    once = (sent >= m and stats["unique_keys"] == sent and stats["repeats"] == 0
            and stats["unauthorized"] == 0 and statuses.get("queued") == sent
            and set(statuses) <= {"queued", "pending"})
    if not once:
        print(f"  NOT exactly once: fake {stats}, outbox {statuses}\n{errors(logs)}", file=sys.stderr)
    return {"rate": rate(stats), "accepted": stats["accepted"], "exactly_once": once,
            "seconds": stats["last"] - stats["first"]}


def run_bare(fake: Fake, m: int, procs: int, repeat: int) -> dict[str, Any]:
    fake.reset()
    start_at = time.time() + 1.0
    loops = [
        subprocess.Popen([sys.executable, "-m", "bench.post_loop", fake.base_url, str(m // procs),
                          str(CONCURRENCY), repr(start_at), f"bare:{repeat}:{i}"],
                         cwd=REPO, stdout=subprocess.PIPE, text=True)
        for i in range(procs)
    ]
    errors = 0
    for p in loops:
        out, _ = p.communicate(timeout=60 + m / 100)
        errors += json.loads(out)["errors"]
    stats = fake.stats()
    return {"rate": rate(stats), "accepted": stats["accepted"], "errors": errors,
            "seconds": stats["last"] - stats["first"]}


def suite(specs: list[tuple[str, int]], m: int, repeats: int, workdir: Path, port: int,
          profile_dir: Path | None = None, backlog: int = 0) -> list[dict[str, Any]]:
    results = []
    with Fake(port) as fake:
        prepared: dict[str, Db] = {}
        for backend, workers in specs:
            if backend not in prepared:
                db = prepared[backend] = Db(prepare(backend, workdir))
                db.seed_contacts(m + backlog)
            db = prepared[backend]
            runs: dict[str, list[dict[str, Any]]] = {"bare": [], "workers": []}
            for i in range(repeats):
                order = ("bare", "workers") if i % 2 == 0 else ("workers", "bare")
                for which in order:
                    if which == "bare":
                        r = run_bare(fake, m, workers, i)
                        extra = f"{r['errors']} errors"
                    else:
                        r = run_workers(db, fake, m, workers, profile_dir, f"{backend}-{workers}-{i + 1}",
                                        workdir, backlog)
                        extra = "exactly once" if r["exactly_once"] else "NOT EXACTLY ONCE"
                    runs[which].append(r)
                    print(f"  {backend} dispatch {workers} {which} run {i + 1}: {r['accepted']:,} msgs in "
                          f"{r['seconds']:.2f} s = {r['rate']:,.0f} msg/s, {extra}", file=sys.stderr)
            bare = statistics.median(r["rate"] for r in runs["bare"])
            for which in ("bare", "workers"):
                rs = runs[which]
                med = statistics.median(r["rate"] for r in rs)
                results.append({
                    "database": backend, "procs": workers, "sender": which, "runs": len(rs),
                    "messages": m, "rate": med, "ratio": med / bare,
                    "ok": all(r.get("exactly_once", True) and not r.get("errors") for r in rs),
                })
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    header = f"{'database':<11} {'procs':>5} {'sender':<8} {'runs':>4} {'messages':>8} {'msg/s':>8} {'ratio':>6} {'once':>5}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['database']:<11} {r['procs']:>5} {r['sender']:<8} {r['runs']:>4} {r['messages']:>8,} "
              f"{r['rate']:>8,.0f} {r['ratio']:>6.2f} {'yes' if r['ok'] else 'NO':>5}")
