"""A plain-text table of the knowledge rate, for the CLI: the first attempt's rate, then
the latest counted attempt's, over the same people."""

from __future__ import annotations

from outreach.stats.service import Cell, KnowledgeReport, Rate

FIRST = "first attempt (what people knew)"
LATEST = "latest counted attempt (after learning)"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _row(key: str, c: Cell) -> list[str]:
    if c.suppressed:
        return [key, "-" if c.n is None else str(c.n), "-", "suppressed", "-"]
    return [key, str(c.n), str(c.knowers), _pct(c.rate), f"{_pct(c.ci_low)}–{_pct(c.ci_high)}"]


def _table(title: str, group: str, rate: Rate) -> list[str]:
    header = [group, "n", "knowers", "rate", "95% CI"]
    rows = [_row(g.key, g) for g in rate.groups] + [_row("overall", rate.overall)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return [title, *(line.rstrip() for line in lines + [fmt.format(*r) for r in rows])]


def render_knowledge(report: KnowledgeReport, suppress_below: int) -> str:
    """``suppress_below``: the configured threshold, named when a row is suppressed."""
    group = report.group_by.value if report.group_by else "group"
    cells = [report.first.overall, *report.first.groups]
    lines = [
        f"policy-knowledge rate (target {report.target:.0%}, pass mark {report.pass_mark:.0%}); "
        f"a retake counts only {report.retake_days} days or more after the previous counted attempt",
        *([f"suppressed (n<{suppress_below}): a group of fewer than {suppress_below} people, and "
           "enough others with it that it cannot be worked out from the overall"]
          if any(c.suppressed and c.n != 0 for c in cells) else []),
        "",
        *_table(FIRST, group, report.first),
        "",
        *_table(LATEST, group, report.latest),
    ]
    return "\n".join(lines)
