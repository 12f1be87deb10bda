"""The scheduling suite: ``Enqueuer.fan_out`` vs one plain ``INSERT … SELECT``.

For each database: a fresh database; for each N, reachable contacts seeded up to N
(not timed), then, alternately, in a fresh process each,

- ``fan_out``: ``Enqueuer.fan_out`` of one campaign in two languages to everyone
  (one ``INSERT … SELECT`` per chunk of 50,000 contact ids, one transaction each);
- ``plain``: one hand-written ``INSERT INTO outbox (…) SELECT … FROM contact JOIN
  contact_urn …`` producing the same rows (same columns and values, keys computed in
  SQL), in one statement and transaction, through the same driver connection;

with the outbox emptied before each. Each run reports rows/s and the memory of the
process doing it: its resident set after imports and opening the database (``RSS``,
VmRSS) and its peak resident set during the work (``peak``: VmHWM, reset to the
current RSS just before the work through /proc/self/clear_refs; ``+MiB`` the growth).
Memory that grew with N would show as a larger growth at 1,000,000 than at 100,000.
(``ru_maxrss`` is no use here: Linux carries the parent's resident set into a forked
child's ru_maxrss across exec. PostgreSQL's own memory is in its server processes, not
counted; SQLite's page cache is in this process.)

The measuring process: ``python -m bench.schedule URL MODE`` (fan_out or plain); prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.db import BODIES, DEFAULT_LOCALE, Db, prepare

REPO = Path(__file__).resolve().parent.parent
KEY_PREFIX = "campaign:bench"
TOPIC = "campaign:bench"


def _status_mib(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


def _reset_peak() -> bool:
    """Start VmHWM afresh at the current resident set (Linux ≥ 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def plain_statement() -> Any:
    """The baseline: the same rows as fan_out's, written as one plain statement."""
    from sqlalchemy import Integer, String, bindparam, text

    from outreach.outbound.models import Outbox

    o = Outbox.__table__  # type: ignore[attr-defined]
    return text(
        "INSERT INTO outbox (idempotency_key, contact_id, channel, address, purpose, body, "
        "choices, encoding, segments, status, attempts, due_at, expires_at, topic, created_at, "
        "updated_at) "
        "SELECT :prefix || CAST(c.id AS VARCHAR), c.id, c.last_channel, u.path, :purpose, "
        "CASE c.language WHEN 'en' THEN :body_en ELSE :body_zh END, NULL, "
        "CASE c.language WHEN 'en' THEN :enc_en ELSE :enc_zh END, "
        "CASE c.language WHEN 'en' THEN :seg_en ELSE :seg_zh END, "
        "'pending', 0, :due_at, NULL, :topic, :now, :now "
        "FROM contact AS c JOIN contact_urn AS u ON u.contact_id = c.id AND u.scheme = 'tel' "
        "WHERE c.consent = 'granted' AND NOT c.opted_out AND c.last_channel IS NOT NULL"
    ).bindparams(
        bindparam("prefix", type_=String), bindparam("purpose", type_=String),
        bindparam("body_en", type_=String), bindparam("body_zh", type_=String),
        bindparam("enc_en", type_=String), bindparam("enc_zh", type_=String),
        bindparam("seg_en", type_=Integer), bindparam("seg_zh", type_=Integer),
        bindparam("due_at", type_=o.c.due_at.type), bindparam("topic", type_=String),
        bindparam("now", type_=o.c.created_at.type),
    )


async def measure(url: str, mode: str) -> dict[str, Any]:
    from content import segments
    from outreach.db import Database
    from outreach.db.raw import Prepared
    from outreach.outbound.models import Purpose
    from outreach.outbound.enqueue import Enqueuer
    from outreach.timeutil import utcnow

    db = Database(url)
    outbound = Enqueuer(db.dialect)
    plain = Prepared(plain_statement(), db.dialect)
    async with db.begin() as raw:  # the connection open, as a real caller has it
        await raw.row(outbound.sql["bounds"], {})
    base = _status_mib("VmRSS")
    reset = _reset_peak()
    now = utcnow()
    due = now + timedelta(hours=1)
    t0 = time.perf_counter()
    if mode == "fan_out":
        rows = await outbound.fan_out(
            db, key_prefix=KEY_PREFIX, purpose=Purpose.campaign, bodies=BODIES,
            default_locale=DEFAULT_LOCALE, due_at=due, topic=TOPIC,
        )
    else:
        en, zh = segments(BODIES["en"]), segments(BODIES["zh_Hans"])
        async with db.begin() as raw:
            rows = await raw.count(plain, {
                "prefix": f"{KEY_PREFIX}:", "purpose": Purpose.campaign.value,
                "body_en": BODIES["en"], "body_zh": BODIES["zh_Hans"],
                "enc_en": en.encoding, "enc_zh": zh.encoding, "seg_en": en.segments,
                "seg_zh": zh.segments, "due_at": due, "topic": TOPIC, "now": now,
            })
    seconds = time.perf_counter() - t0
    peak = _status_mib("VmHWM")
    await db.close()
    return {"mode": mode, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "rss_base_mib": base, "rss_peak_mib": peak, "peak_reset": reset}


def run_one(url: str, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.schedule", url, mode],
                         cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def suite(backends: list[str], sizes: list[int], repeats: dict[int, int], workdir: Path) -> list[dict[str, Any]]:
    """Runs the suite; one result row per (database, N, mode), medians over the repeats."""
    results = []
    for backend in backends:
        url = prepare(backend, workdir)
        db = Db(url)
        seeded = 0
        for n in sorted(sizes):
            t0 = time.perf_counter()
            db.seed_contacts(n - seeded, start=seeded + 1)  # the next N tops up the last
            seeded = n
            print(f"  {backend} schedule: {n:,} contacts seeded in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            runs: dict[str, list[dict[str, Any]]] = {"plain": [], "fan_out": []}
            prints: dict[str, set[tuple[Any, ...]]] = {"plain": set(), "fan_out": set()}
            for i in range(repeats[n]):
                # Alternate which goes first, so neither always meets a warmer cache.
                order = ("plain", "fan_out") if i % 2 == 0 else ("fan_out", "plain")
                for mode in order:
                    db.clear_outbox()
                    r = run_one(url, mode)
                    prints[mode].add(db.outbox_fingerprint())
                    runs[mode].append(r)
                    print(f"  {backend} schedule {n:,} {mode} run {i + 1}: {r['rows']:,} rows in "
                          f"{r['seconds']:.2f} s = {r['rows_per_s']:,.0f} rows/s, RSS "
                          f"{r['rss_base_mib']:.1f} → {r['rss_peak_mib']:.1f} MiB", file=sys.stderr)
            db.clear_outbox()
            same = len(prints["plain"] | prints["fan_out"]) == 1
            if not same:
                print(f"  {backend} {n}: fan_out and plain rows differ: {prints}", file=sys.stderr)
            bare = statistics.median(r["rows_per_s"] for r in runs["plain"])
            for mode in ("plain", "fan_out"):
                rs = runs[mode]
                rps = statistics.median(r["rows_per_s"] for r in rs)
                results.append({
                    "database": backend, "n": n, "mode": mode, "runs": len(rs),
                    "rows": statistics.median(r["rows"] for r in rs),
                    "seconds": statistics.median(r["seconds"] for r in rs),
                    "rows_per_s": rps, "ratio": rps / bare,
                    "rss_base_mib": statistics.median(r["rss_base_mib"] for r in rs),
                    "rss_peak_mib": statistics.median(r["rss_peak_mib"] for r in rs),
                    "peak_reset": all(r["peak_reset"] for r in rs),
                    "same_rows": same and all(r["rows"] == n for r in rs),
                })
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    """``*`` after a peak: VmHWM could not be reset, so it is the process's lifetime peak."""
    header = (f"{'database':<11} {'rows':>9} {'method':<8} {'runs':>4} {'seconds':>8} {'rows/s':>9} "
              f"{'ratio':>6} {'RSS MiB':>8} {'peak':>6} {'+MiB':>5} {'same':>5}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['database']:<11} {r['n']:>9,} {r['mode']:<8} {r['runs']:>4} {r['seconds']:>8.2f} "
              f"{r['rows_per_s']:>9,.0f} {r['ratio']:>6.2f} {r['rss_base_mib']:>8.1f} "
              f"{r['rss_peak_mib']:>6.1f}{' ' if r['peak_reset'] else '*'}"
              f"{r['rss_peak_mib'] - r['rss_base_mib']:>5.1f} "
              f"{'yes' if r['same_rows'] else 'NO':>5}")


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(sys.argv[1], sys.argv[2]))))
