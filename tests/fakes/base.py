"""What every fake provider shares: an aiohttp server on loopback in its own thread.

Its own thread and event loop, because an aiohttp fake on pytest's session loop can hang
function-scoped tests, and so that a test whose app runs on its own loop can make the
fake call that app (webhooks, status callbacks) without deadlocking.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import web

_T = TypeVar("_T")


class ThreadedServer:
    """Subclasses implement ``_startup`` (build ``self._runner`` and call ``_listen``)
    and ``_shutdown``."""

    name = "fake"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        # For requests the fake makes itself (webhooks, status callbacks).
        self._session: aiohttp.ClientSession | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start the server thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start within 10 s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the server and join its thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if thread.is_alive():
            raise RuntimeError(f"{self.name} thread did not stop within 10 s")
        self._thread = self._loop = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ the thread

    async def _startup(self) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    async def _listen(self, runner: web.AppRunner) -> None:
        """Serve ``runner`` on a free port of ``host``."""
        self._runner = runner
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()

    async def _close(self) -> None:
        """Close the fake's own client session and its server (end of ``_shutdown``)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            ready.set()
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the fake's loop (from any other thread)."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError(f"{self.name} is not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("called from the fake's own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop)
