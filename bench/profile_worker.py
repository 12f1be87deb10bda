"""`outreach worker` under cProfile: ``python -m bench.profile_worker OUT.prof``.

Profiling starts when the dispatcher starts (after imports, content loading and
settings: the start-up would otherwise dominate a short run) and the profile is written
when the worker stops (SIGTERM, as the dispatch suite stops it). Read it with
``python -m pstats OUT.prof`` (``sort tottime``, ``stats 30``).
"""

from __future__ import annotations

import cProfile
import sys

from outreach.cli import app
from outreach.outbound.dispatcher import Dispatcher


def main() -> None:
    out = sys.argv[1]
    profile = cProfile.Profile()
    start = Dispatcher.start

    def start_profiled(self: Dispatcher) -> None:
        profile.enable()
        start(self)

    Dispatcher.start = start_profiled  # type: ignore[method-assign]
    try:
        app(["worker"], standalone_mode=False)
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
