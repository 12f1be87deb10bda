"""The `outreach` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from outreach.settings import get_settings

T = TypeVar("T")

app = typer.Typer(help="Outreach: chat and SMS outreach for migrants.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
content_app = typer.Typer(help="Content packs (lessons, FAQ, quizzes).", no_args_is_help=True)
users_app = typer.Typer(help="Staff users and their API tokens.", no_args_is_help=True)
stats_app = typer.Typer(help="Programme indicators.", no_args_is_help=True)
telegram_app = typer.Typer(help="The Telegram channel.", no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox: messages the service sends.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")
app.add_typer(users_app, name="users")
app.add_typer(stats_app, name="stats")
app.add_typer(telegram_app, name="telegram")
app.add_typer(outbox_app, name="outbox")

# sysexits.h EX_TEMPFAIL: stopped part-way; running the same command again finishes.
EX_TEMPFAIL = 75


def _logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (OUTREACH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (OUTREACH_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Serve the API, webhooks and (in dev) the simulator."""
    import uvicorn

    _logging()
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    if workers > 1 and settings.is_sqlite:
        typer.echo("Several workers need PostgreSQL; SQLite runs in one process.", err=True)
        raise typer.Exit(2)
    from outreach.db.engine import is_current

    if not is_current(settings.database_url):
        typer.echo("The database is not at the newest migration: run `outreach db upgrade` "
                   "first (once per release, not in every replica).", err=True)
        raise typer.Exit(3)
    base = f"http://{host}:{port}"
    typer.echo(f"Outreach on {base}  (API docs: {base}/docs)")
    typer.echo(f"Staff console: {base}/console")
    if settings.simulator_enabled:
        typer.echo(f"Chat as a migrant: {base}/simulator")
    uvicorn.run(
        "outreach.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def worker() -> None:
    """Send the outbox and run the scheduled jobs, without the web server.

    Run any number of these on PostgreSQL (each claims its own share of due messages);
    on SQLite `outreach serve` already does this work. SIGTERM or Ctrl-C stops it: the
    sends already out are recorded, the rest of what it claimed is given back at once."""
    import signal

    _logging()
    settings = get_settings()

    async def run() -> None:
        from outreach.container import build_container

        services = build_container(settings)
        if settings.is_sqlite and settings.serve_runs_worker:
            typer.echo("Note: on SQLite `outreach serve` already sends the outbox; this worker "
                       "shares the work safely, but one process is all SQLite needs.", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await services.start_worker()
            typer.echo(f"Outreach worker on {_where(settings.database_url)}; Ctrl-C to stop.")
            await stop.wait()
            typer.echo("stopping: recording the sends in flight, giving back the rest")
        finally:
            await services.close()

    _run_fast(run())


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is there (it comes with uvicorn[standard]): about a tenth
    less CPU per message sent."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _where(url: str) -> str:
    """The database, without credentials, for people reading the console."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (creates the SQLite file if needed)."""
    from outreach.db import create_engine
    from outreach.migrate import upgrade

    _logging()
    url = get_settings().database_url
    asyncio.run(create_engine(url).dispose())  # creates the SQLite directory
    upgrade(url, revision)
    typer.echo(f"database at {revision}")


@content_app.command("check")
def content_check(verbose: bool = typer.Option(False, "--verbose", "-v", help="Every SMS row.")) -> None:
    """Validate the content packs; exits non-zero on any error.

    Prints each lesson's and FAQ answer's SMS parts per locale (with its source line),
    and how often a guesser who answers the quiz by a fixed rule would pass."""
    from content import check_path
    from outreach.i18n import translator

    settings = get_settings()
    report = check_path(
        settings.content_dir,
        lambda locale: translator(locale, settings.locales_dir).gettext,
        quiz_length=settings.quiz_length,
        pass_mark=settings.pass_mark,
    )
    typer.echo(render_sms(report.sms, verbose))
    for rate in report.guessers:
        typer.echo(f"guesser always choosing {rate.strategy}: passes {rate.p_pass:.1%}")
    for warning in report.warnings:
        typer.echo(f"warning: {warning}")
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if report.errors:
        typer.echo(f"{len(report.errors)} error(s)", err=True)
        raise typer.Exit(1)
    typer.echo("content OK")


def render_sms(rows: list[Any], verbose: bool) -> str:
    """One line per message (kind, id, then segments and encoding per locale); without
    ``verbose``, only lessons and FAQ answers, the messages capped at 3 parts."""
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if verbose or row.kind in ("lesson", "faq"):
            per.setdefault((row.kind, row.id), {})[row.locale] = row
    locales = sorted({row.locale for row in rows})
    lines = [f"{'kind':11} {'id':34} " + " ".join(f"{loc:>16}" for loc in locales)]
    for (kind, ident), by_locale in per.items():
        cells = []
        for loc in locales:
            r = by_locale.get(loc)
            cells.append(f"{r.segments} sms {r.chars:>3} {r.encoding:>5}" if r else "-")
        lines.append(f"{kind:11} {ident:34} " + " ".join(f"{c:>16}" for c in cells))
    lines.append(f"{len(rows)} messages measured (source line included)")
    return "\n".join(lines)


@content_app.command("export")
def content_export() -> None:
    """Print the content packs as JSON (shape documented in README.md)."""
    from content import export_library, load_library

    json.dump(export_library(load_library(get_settings().content_dir)), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def read_password(min_length: int) -> str:
    """The new user's password: asked twice (hidden) on a terminal; otherwise the first
    line of standard input (``echo "$PW" | outreach users create …``)."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            typer.echo("no password on standard input (give one line, or --no-password for "
                       "an API-only user)", err=True)
            raise typer.Exit(2)
    if len(password) < min_length:
        typer.echo(f"the password needs at least {min_length} characters "
                   "(OUTREACH_PASSWORD_MIN_LENGTH)", err=True)
        raise typer.Exit(2)
    return password


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Option(help="The person's name; also their console sign-in name.")],
    role: Annotated[str, typer.Option(help="admin, coordinator or health_worker.")],
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="An API-only user: a token, no console sign-in.")] = False,
) -> None:
    """Create a staff user with a console password and an API token; the token is printed
    once, on the last line. The password is asked on a terminal (twice, hidden), or read
    as one line from standard input when that is not a terminal."""
    from outreach.users.models import Role

    try:
        parsed = Role(role)
    except ValueError:
        typer.echo(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2) from None
    if not name.strip():
        typer.echo("the name must not be empty", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    password = None if no_password else read_password(settings.password_min_length)

    async def run() -> str:
        from outreach.db import Database
        from outreach.errors import Conflict
        from outreach.users.service import create_user

        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                try:
                    user, token = await create_user(session, name.strip(), parsed, password)
                except Conflict as exc:
                    typer.echo(exc.message, err=True)
                    raise typer.Exit(2) from None
            sign_in = f"signs in to /console as {user.login!r}" if user.login else "API only"
            typer.echo(f"created user {user.id} ({user.name}, {user.role}; {sign_in}); token:")
            return token
        finally:
            await db.close()

    typer.echo(asyncio.run(run()))


def _in_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """``work`` with a session on the configured database, for a read-only command."""

    async def run() -> T:
        from outreach.db import Database

        db = Database(get_settings().database_url)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.close()

    return asyncio.run(run())


@stats_app.command("knowledge")
def stats_knowledge(
    by: Annotated[str | None, typer.Option("--by", help="city, district or language.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """The policy-knowledge rate, overall and by group, on each person's first attempt and
    on their latest counted one (same numbers as the API)."""
    from outreach.stats.service import GroupBy, knowledge_report

    try:
        group_by = GroupBy(by) if by else None
    except ValueError:
        typer.echo(f"--by must be one of: {', '.join(g.value for g in GroupBy)}", err=True)
        raise typer.Exit(2) from None
    settings = get_settings()

    report = _in_session(lambda session: knowledge_report(session, settings, group_by))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    from outreach.stats.table import render_knowledge

    typer.echo(render_knowledge(report, settings.suppress_below))


@stats_app.command("places")
def stats_places(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Places people live in that the regions list lacks, with the number of people
    (same numbers as the API; places fewer than OUTREACH_SUPPRESS_BELOW typed are left out)."""
    from outreach.stats.places import places_asked

    settings = get_settings()

    report = _in_session(lambda session: places_asked(
        session, suppress_below=settings.suppress_below, limit=limit))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    typer.echo(f"places asked for (left out: typed by fewer than {report.suppress_below} people)")
    for place in report.places:
        where = f"{place.city}: " if place.city else ""
        typer.echo(f"{place.people:>6}  {where}{place.place}")


def _instant(value: str | None, option: str) -> Any:
    """An ISO 8601 instant with its UTC offset (a campaign's hour is somebody's wall
    clock: say whose)."""
    from datetime import datetime

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: not an ISO 8601 date and time: {value!r}", err=True)
        raise typer.Exit(2) from None
    if parsed.tzinfo is None:
        typer.echo(f"{option}: give a UTC offset, e.g. {value}+08:00", err=True)
        raise typer.Exit(2)
    return parsed


@outbox_app.command("fan-out")
def outbox_fan_out(
    key: Annotated[str, typer.Option(help="The campaign's key: each message's is KEY:CONTACT_ID.")],
    body: Annotated[list[str], typer.Option(
        help='LOCALE=TEXT, once per language (e.g. --body en="…" --body zh_Hans="…").')],
    default_locale: Annotated[str | None, typer.Option(
        help="Whose text people in other languages get (OUTREACH_DEFAULT_LOCALE).")] = None,
    due: Annotated[str | None, typer.Option(help="When to send, ISO 8601 with offset; now if left out.")] = None,
    expires: Annotated[str | None, typer.Option(help="Not sent at or after this instant.")] = None,
    topic: Annotated[str | None, typer.Option(help="A topic, to withdraw what is still waiting later.")] = None,
    city: Annotated[str | None, typer.Option(help="Only people in this city.")] = None,
    district: Annotated[str | None, typer.Option(help="Only people in this district.")] = None,
    language: Annotated[str | None, typer.Option(help="Only people with this language.")] = None,
    chunk: Annotated[int, typer.Option(min=1, help="Contact ids per transaction.")] = 50_000,
) -> None:
    """Schedule one campaign message to everyone reachable (or the audience chosen), in
    each person's language. Progress goes to stderr. SIGTERM or Ctrl-C stops it after the
    chunk in progress (exit 75); running the same command again continues: the keys skip
    what is already scheduled."""
    import signal

    from outreach.i18n import SUPPORTED_LOCALES
    from outreach.outbound.enqueue import Audience
    from outreach.outbound.models import Purpose
    from outreach.timeutil import SYSTEM_CLOCK

    _logging()
    settings = get_settings()
    bodies: dict[str, str] = {}
    for given in body:
        locale, sep, words = given.partition("=")
        if not sep or locale not in SUPPORTED_LOCALES or not words.strip():
            typer.echo(f"--body {given!r}: want LOCALE=TEXT with LOCALE one of "
                       f"{', '.join(SUPPORTED_LOCALES)}", err=True)
            raise typer.Exit(2)
        bodies[locale] = words
    default = default_locale or settings.default_locale
    if default not in bodies:
        typer.echo(f"no --body for the default locale {default} (--default-locale)", err=True)
        raise typer.Exit(2)
    due_at = _instant(due, "--due") or SYSTEM_CLOCK.now()
    expires_at = _instant(expires, "--expires")
    if expires_at is not None and expires_at <= due_at:
        typer.echo("--expires must come after --due", err=True)
        raise typer.Exit(2)
    audience = Audience(city=city, district=district, language=language)

    async def run() -> tuple[int, int, int, str | None]:
        from outreach.db import Database
        from outreach.outbound.enqueue import Enqueuer

        stopped: list[str] = []
        # A plain handler, not the loop's: on SQLite a chunk never yields to the loop, so
        # the loop's handlers would run only once everything is done.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda n, _: stopped.append(signal.Signals(n).name))
        reached = [0, 0]

        def progress(done: int, total: int) -> None:
            reached[:] = [done, total]
            typer.echo(f"fan-out {key}: {done}/{total} contact ids", err=True)

        halted: list[str] = []

        def stop() -> bool:  # asked only while chunks remain
            halted.extend(stopped[:1])
            return bool(stopped)

        db = Database(settings.database_url)
        try:
            added = await Enqueuer(db.dialect, clock=SYSTEM_CLOCK).fan_out(
                db, key_prefix=key, purpose=Purpose.campaign, bodies=bodies,
                default_locale=default, due_at=due_at, expires_at=expires_at, topic=topic,
                audience=audience, chunk=chunk, progress=progress, stop=stop)
        finally:
            await db.close()
        return added, reached[0], reached[1], halted[0] if halted else None

    added, done, total, stopped_by = asyncio.run(run())
    if stopped_by is not None:
        typer.echo(f"stopped by {stopped_by} after {done} of {total} contact ids "
                   f"({added} messages scheduled); run the same command again to continue",
                   err=True)
        raise typer.Exit(EX_TEMPFAIL)
    typer.echo(f"fan-out {key}: {added} messages scheduled")


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Receive Telegram updates by long polling (no public URL needed); Ctrl-C stops."""
    _logging()
    settings = get_settings()

    async def run() -> None:
        from outreach.container import build_container

        services = build_container(settings)
        if not services.telegram.enabled:
            typer.echo(services.telegram.problem, err=True)
            await services.close()
            raise typer.Exit(2)
        try:
            await services.start(telegram_webhook=False)
            bot = services.telegram.bot()
            # Telegram refuses getUpdates while a webhook is set.
            await bot.delete_webhook(drop_pending_updates=False)
            from outreach.providers.telegram.webhooks import receiver

            dispatcher = services.telegram.dispatcher(receiver(services.telegram, services.pipeline))
            typer.echo("Polling Telegram; Ctrl-C to stop.")
            await dispatcher.start_polling(bot, handle_signals=True, close_bot_session=False)
        finally:
            await services.close()

    asyncio.run(run())


def main() -> None:  # pragma: no cover
    app()
