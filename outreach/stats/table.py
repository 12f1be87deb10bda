"""A plain-text table of the knowledge rate, for the CLI."""

from __future__ import annotations

from outreach.stats.service import Cell, KnowledgeReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _row(key: str, c: Cell) -> list[str]:
    if c.suppressed:
        return [key, str(c.n), "-", "suppressed (n<5)", "-"]
    return [key, str(c.n), str(c.knowers), _pct(c.rate), f"{_pct(c.ci_low)}–{_pct(c.ci_high)}"]


def render_knowledge(report: KnowledgeReport) -> str:
    header = [report.group_by.value if report.group_by else "group", "n", "knowers", "rate", "95% CI"]
    rows = [_row(g.key, g) for g in report.groups] + [_row("overall", report.overall)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [
        f"policy-knowledge rate (target {report.target:.0%}, pass mark {report.pass_mark:.0%})",
        fmt.format(*header),
        fmt.format(*("-" * w for w in widths)),
    ]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)
