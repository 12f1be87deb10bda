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
        return [key, str(c.n), "-", "suppressed (n<5)", "-"]
    return [key, str(c.n), str(c.knowers), _pct(c.rate), f"{_pct(c.ci_low)}–{_pct(c.ci_high)}"]


def _table(title: str, group: str, rate: Rate) -> list[str]:
    header = [group, "n", "knowers", "rate", "95% CI"]
    rows = [_row(g.key, g) for g in rate.groups] + [_row("overall", rate.overall)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return [title, *(line.rstrip() for line in lines + [fmt.format(*r) for r in rows])]


def render_knowledge(report: KnowledgeReport) -> str:
    group = report.group_by.value if report.group_by else "group"
    lines = [
        f"policy-knowledge rate (target {report.target:.0%}, pass mark {report.pass_mark:.0%}); "
        f"a retake counts only {report.retake_days} days or more after the previous counted attempt",
        "",
        *_table(FIRST, group, report.first),
        "",
        *_table(LATEST, group, report.latest),
    ]
    return "\n".join(lines)
