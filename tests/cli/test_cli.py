"""The `outreach` console script, run as a user would (a real subprocess)."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from outreach.container import Container
from outreach.users.models import Role
from tests.factories import Chat, auth, create_token
from tests.stats.test_places import seed as seed_places

OUTREACH = shutil.which("outreach", path=str(Path(sys.executable).parent)) or "outreach"


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTREACH, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, input=stdin,
    )


def test_content_check_passes_on_the_shipped_packs() -> None:
    result = run("content", "check")
    assert result.returncode == 0, result.stderr
    assert "content OK" in result.stdout
    # Each lesson and answer with its SMS parts per locale, and the guessers' odds.
    assert re.search(r"lesson +fp-checkup +\d sms +\d+ +GSM-7 +\d sms +\d+ +UCS-2", result.stdout)
    assert "guesser always choosing the most generous option: passes" in result.stdout


def test_content_check_fails_on_a_broken_pack(tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "broken"
    shutil.copytree(Path(__file__).resolve().parents[2] / "content" / "packs" / "policy-2010-69", pack)
    quiz = (pack / "quiz.yaml").read_text(encoding="utf-8")
    (pack / "quiz.yaml").write_text(quiz.replace("correct: b", "correct: z", 1), encoding="utf-8")
    (pack / "pack.yaml").write_text(
        (pack / "pack.yaml").read_text(encoding="utf-8").replace("id: policy-2010-69", "id: broken"),
        encoding="utf-8",
    )
    result = run("content", "check", env={"OUTREACH_CONTENT_DIR": str(tmp_path / "packs")})
    assert result.returncode == 1
    assert "error:" in result.stderr and "z" in result.stderr


def test_content_export_is_json() -> None:
    result = run("content", "export")
    assert result.returncode == 0
    packs = json.loads(result.stdout)["packs"]
    question = next(p for p in packs if p["quizzes"])["quizzes"][0]["questions"][0]
    assert {"id", "clause", "text", "options", "correct"} <= set(question)
    assert {"zh_Hans", "en"} <= set(question["text"])


async def test_users_create_token_authenticates(db_url: str, client: httpx.AsyncClient) -> None:
    result = run("users", "create", "--name", "Li Na", "--role", "coordinator",
                 env={"OUTREACH_DATABASE_URL": db_url}, stdin="a long enough password\n")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("otr_") and len(token) > 30
    me = await client.get("/api/v1/users/me", headers=auth(token))
    assert me.status_code == 200 and me.json()["role"] == "coordinator"


def test_users_create_rejects_a_bad_role(db_url: str) -> None:
    result = run("users", "create", "--name", "X", "--role", "boss", env={"OUTREACH_DATABASE_URL": db_url})
    assert result.returncode == 2 and "health_worker" in result.stderr


async def test_stats_knowledge_table_matches_the_api(
    db_url: str, client: httpx.AsyncClient, services: Container
) -> None:
    for i in range(5):
        chat = Chat(client, f"cli-stats-{i}")
        await chat.onboard("en", city="shenzhen", district="futian")
        await chat.pick("quiz")
        for _ in range(5):
            await chat.send("1")
    token = await create_token(services, Role.coordinator)
    api = (await client.get("/api/v1/stats/knowledge?group_by=city", headers=auth(token))).json()
    result = run("stats", "knowledge", "--by", "city", "--json", env={"OUTREACH_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == api
    assert report["first"]["overall"]["n"] == report["latest"]["overall"]["n"] == 5
    assert report["latest"]["groups"][0]["key"] == "shenzhen"
    table = run("stats", "knowledge", "--by", "city", env={"OUTREACH_DATABASE_URL": db_url})
    first, latest = table.stdout.split("\n\n")[1:]
    assert first.startswith("first attempt (what people knew)\ncity")
    assert latest.startswith("latest counted attempt (after learning)\ncity")
    for section, rate in ((first, report["first"]), (latest, report["latest"])):
        assert "95% CI" in section
        overall = next(line for line in section.splitlines() if line.startswith("overall"))
        assert overall.split()[:3] == ["overall", "5", str(rate["overall"]["knowers"])]
        assert "shenzhen" in section
    assert "retake counts only 30 days" in table.stdout
    bad = run("stats", "knowledge", "--by", "shoe", env={"OUTREACH_DATABASE_URL": db_url})
    assert bad.returncode == 2


def test_stats_knowledge_reads_the_retake_days_setting(db_url: str) -> None:
    env = {"OUTREACH_DATABASE_URL": db_url, "OUTREACH_RETAKE_DAYS": "7"}
    result = run("stats", "knowledge", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["retake_days"] == 7


async def test_stats_places_matches_the_api(
    db_url: str, client: httpx.AsyncClient, services: Container
) -> None:
    await seed_places(services, [(None, "Chengdu")] * 5 + [("shenzhen", "Longhua")] * 2)
    token = await create_token(services, Role.coordinator)
    api = (await client.get("/api/v1/stats/places-asked", headers=auth(token))).json()
    result = run("stats", "places", "--json", env={"OUTREACH_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == api
    assert [p["place"] for p in api["places"]] == ["Chengdu"]
    table = run("stats", "places", env={"OUTREACH_DATABASE_URL": db_url})
    assert "     5  Chengdu" in table.stdout and "Longhua" not in table.stdout


def test_serve_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    """The image no longer migrates on start; serve says what to run instead of serving
    on an old schema."""
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    assert run("db", "upgrade", "--revision", "0006", env={"OUTREACH_DATABASE_URL": url}).returncode == 0
    result = run("serve", "--port", "9", env={"OUTREACH_DATABASE_URL": url})
    assert result.returncode == 3
    assert "outreach db upgrade" in result.stderr


def test_db_upgrade_creates_a_fresh_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "fresh.db"
    result = run("db", "upgrade", env={"OUTREACH_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


async def test_users_create_reads_the_password_from_stdin(db_url: str, client: httpx.AsyncClient) -> None:
    from tests.web.console_helpers import sign_in

    env = {"OUTREACH_DATABASE_URL": db_url}
    result = run("users", "create", "--name", "Zhao Lei", "--role", "health_worker", env=env,
                 stdin="my console password\nignored second line\n")
    assert result.returncode == 0, result.stderr
    assert "signs in to /console as 'zhao lei'" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("otr_")
    client.headers["Accept-Language"] = "en"
    assert (await sign_in(client, "Zhao Lei", "ignored second line")).status_code == 401
    signed_in = await sign_in(client, "zhao lei", "my console password")
    assert signed_in.status_code == 303
    assert "Health worker" in (await client.get("/console")).text

    # The sign-in name is taken (whatever its case and spacing).
    again = run("users", "create", "--name", "ZHAO  LEI", "--role", "admin", env=env, stdin="another password\n")
    assert again.returncode == 2 and "already signs in as 'zhao lei'" in again.stderr
    short = run("users", "create", "--name", "Short", "--role", "admin", env=env, stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    empty = run("users", "create", "--name", "Empty", "--role", "admin", env=env, stdin="")
    assert empty.returncode == 2 and "no password on standard input" in empty.stderr
    # An API-only user: a token, no password, and the name may repeat.
    api = run("users", "create", "--name", "Zhao Lei", "--role", "admin", "--no-password", env=env)
    assert api.returncode == 0 and "API only" in api.stdout


def _run_on_a_terminal(
    args: list[str], env: dict[str, str], dialogue: list[tuple[bytes, bytes]]
) -> tuple[int, str]:
    """Runs the command with a pseudo-terminal as its controlling terminal; for each
    (prompt, answer), waits for the prompt with the terminal's echo off (a hidden prompt)
    and types the answer."""
    import fcntl
    import pty
    import select
    import termios
    import time

    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([OUTREACH, *args], stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=controlling_terminal, env={**os.environ, **env})
    os.close(slave)
    out = b""

    def read_some() -> None:
        nonlocal out
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                pass

    try:
        seen = 0
        for prompt, answer in dialogue:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None and not (
                out.find(prompt, seen) >= 0 and not termios.tcgetattr(master)[3] & termios.ECHO
            ):
                read_some()
            assert out.find(prompt, seen) >= 0, out
            seen = out.find(prompt, seen) + len(prompt)
            os.write(master, answer)
        proc.wait(timeout=60)
        for _ in range(20):
            read_some()
    finally:
        os.close(master)
    return proc.returncode, out.decode(errors="replace")


async def test_users_create_prompts_for_the_password_on_a_terminal(db_url: str, client: httpx.AsyncClient) -> None:
    from tests.web.console_helpers import sign_in

    code, out = _run_on_a_terminal(
        ["users", "create", "--name", "Tty User", "--role", "coordinator"],
        {"OUTREACH_DATABASE_URL": db_url},
        [(b"Password:", b"typed on a terminal\n"),
         (b"Repeat for confirmation:", b"typed on a terminal\n")],
    )
    assert code == 0, out
    assert "Password:" in out and "Repeat for confirmation:" in out
    assert "typed on a terminal" not in out  # hidden
    assert out.strip().splitlines()[-1].startswith("otr_")
    client.headers["Accept-Language"] = "en"
    assert (await sign_in(client, "Tty User", "typed on a terminal")).status_code == 303
