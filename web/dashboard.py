"""The staff dashboard ``/admin/dashboard`` and ``GET /api/v1/stats?days=N`` (issue 14).

Counts only (``knowledge.stats``): questions and outcomes per day, by topic, 有帮助/没帮助 per
entry, the most-asked open inbox questions, entries past their review date and hand-offs.

The charts are SVG drawn here on the server: no script, no CDN, nothing to vendor. This module
computes each chart's geometry (``column_chart``, ``bar_rows``) and the template only writes the
shapes out, so it works without JavaScript and at 360 px (the SVG scales with its box). Every
chart has a text alternative: a title and a one-sentence summary for screen readers, and its
numbers as a table (column charts) or as visible text beside each bar (bar rows).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from knowledge import stats
from knowledge.review_dates import RENEWAL, overdue_entries, today
from knowledge.topics import TOPICS
from web.admin import render
from web.auth import api_user, db, logged_in
from web.keys import SESSIONMAKER

routes = web.RouteTableDef()

DAY_CHOICES = (7, 30, 90, 365)
OUTCOME_COLORS = {
    "answered": "#1a7f37",
    "clarified": "#0b5cad",
    "not_covered": "#d4760a",
    "declined": "#8250df",
    "handed_over": "#bf3989",
    "other": "#8c959f",
}
TOPIC_NAMES = {**TOPICS, stats.NO_TOPIC: "未归类（未覆盖、问候等）"}
UP_COLOR, DOWN_COLOR = "#1a7f37", "#b42318"
CLAIMED_COLOR, UNCLAIMED_COLOR = "#0b5cad", "#d4760a"


# -- chart geometry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    key: str
    name: str
    color: str


def nice_ceiling(value: int) -> int:
    """The axis maximum: the smallest of 1, 2, 5 × 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def short_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.month}/{day.day}"


def column_chart(
    chart_id: str,
    title: str,
    columns: list[tuple[str, dict[str, int]]],
    series: list[Series],
    *,
    unit: str = "条",
    width: int = 360,
    height: int = 200,
) -> dict[str, Any]:
    """Stacked columns, one per day: the shapes, axis and labels the template draws, and the table.

    ``columns`` are (ISO date, {series key: count}); each non-zero count is one ``rect`` carrying
    ``data-date``, ``data-series`` and ``data-value`` (what the browser test reads).
    """
    left, right, top, bottom = 30, 16, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values.get(s.key, 0) for s in series) for _, values in columns]
    ceiling = nice_ceiling(max(totals, default=0))
    slot = plot_w / max(1, len(columns))
    bar_w = max(1.0, slot * 0.72)
    rects, groups = [], []
    for i, (day, values) in enumerate(columns):
        x = left + i * slot + (slot - bar_w) / 2
        stacked = 0
        for s in series:
            value = values.get(s.key, 0)
            if not value:
                continue
            y0 = top + plot_h - (stacked + value) / ceiling * plot_h
            rects.append(
                {
                    "x": round(x, 2),
                    "y": round(y0, 2),
                    "w": round(bar_w, 2),
                    "h": round(value / ceiling * plot_h, 2),
                    "color": s.color,
                    "date": day,
                    "series": s.key,
                    "value": value,
                    "label": f"{day} {s.name}：{value}{unit}",
                }
            )
            stacked += value
        groups.append({"date": day, "total": totals[i]})
    ticks = [{"value": v, "y": round(top + plot_h - v / ceiling * plot_h, 2)} for v in (0, ceiling // 2, ceiling)]
    if ceiling == 1:
        ticks = ticks[:1] + ticks[2:]
    every = max(1, math.ceil(len(columns) / 7))  # at most about 7 date labels
    labels = [
        {"x": round(left + i * slot + slot / 2, 2), "text": short_date(day)}
        for i, (day, _) in enumerate(columns)
        if i % every == 0 or i == len(columns) - 1
    ]
    if len(labels) >= 2 and (len(columns) - 1) % every:
        del labels[-2]  # the last date, off the regular step, would overlap the one before it
    busiest = max(range(len(totals)), key=lambda i: totals[i]) if totals else None
    if busiest is None or totals[busiest] == 0:
        summary = f"共{len(columns)}天，没有记录。"
    else:
        summary = (
            f"共{len(columns)}天，合计{sum(totals)}{unit}；最多的一天是{columns[busiest][0]}，{totals[busiest]}{unit}。"
        )
    return {
        "id": chart_id,
        "title": title,
        "summary": summary,
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "baseline": top + plot_h,
        "rects": rects,
        "groups": groups,
        "ticks": ticks,
        "labels": labels,
        "series": series,
        "table": [
            {"date": day, "values": [values.get(s.key, 0) for s in series], "total": totals[i]}
            for i, (day, values) in enumerate(columns)
        ],
    }


def bar_rows(rows: list[dict[str, Any]], parts: list[Series]) -> list[dict[str, Any]]:
    """Horizontal bars, one per row, scaled to the largest row: ``rows`` carry a count per part key.

    Each row gets ``segments`` (x and width in 0..100 of the bar's box) and its ``total``.
    """
    largest = max((sum(r.get(p.key, 0) for p in parts) for r in rows), default=0) or 1
    shaped = []
    for row in rows:
        x, segments = 0.0, []
        for part in parts:
            value = row.get(part.key, 0)
            if value:
                w = value / largest * 100
                segments.append(
                    {"x": round(x, 2), "w": round(w, 2), "color": part.color, "key": part.key, "value": value}
                )
                x += w
        shaped.append({**row, "segments": segments, "total": sum(row.get(p.key, 0) for p in parts)})
    return shaped


# -- the page and the API -------------------------------------------------------------------------
def dashboard_data(make_session: sessionmaker[Session], days: int) -> dict[str, Any]:
    """Everything the page shows, read in one transaction (run off the event loop)."""
    with make_session() as session, session.begin():
        summary = stats.summary(session, days=days)
        overdue = overdue_entries(session)
        inbox_top = stats.top_open_inbox(session)
    outcome_series = [Series(k, name, OUTCOME_COLORS[k]) for k, name in stats.OUTCOMES.items()]
    columns = [(d["date"], d["outcomes"]) for d in summary["by_day"]]
    questions = column_chart(
        "chart-questions",
        "每天的居民提问",
        [(d["date"], {"total": d["total"]}) for d in summary["by_day"]],
        [Series("total", "提问", "#0b5cad")],
    )
    outcomes = column_chart("chart-outcomes", "每天的答复结果", columns, outcome_series)
    handoffs = summary["handoffs"]
    handoff_chart = column_chart(
        "chart-handoffs",
        "每天的转人工请求",
        [
            (d["date"], {"claimed": d["claimed"], "unclaimed": d["requested"] - d["claimed"]})
            for d in handoffs["by_day"]
        ],
        [
            Series("claimed", "工作人员已接入", CLAIMED_COLOR),
            Series("unclaimed", "未接入（无人在岗或超时）", UNCLAIMED_COLOR),
        ],
        unit="次",
    )
    topic_rows = bar_rows(
        [{"key": k, "label": TOPIC_NAMES[k], "count": n} for k, n in summary["topics"].items()],
        [Series("count", "提问", "#0b5cad")],
    )
    feedback_rows = bar_rows(
        [{**e, "label": e["question"]} for e in summary["feedback"]["entries"]],
        [Series("up", "有帮助", UP_COLOR), Series("down", "没帮助", DOWN_COLOR)],
    )
    inbox_rows = bar_rows(inbox_top, [Series("count", "次数", "#d4760a")])
    total = summary["total"]
    answered = summary["outcomes"]["answered"]
    return {
        "summary": summary,
        "answered_share": round(100 * answered / total) if total else None,
        "questions_chart": questions,
        "outcomes_chart": outcomes,
        "handoffs_chart": handoff_chart,
        "topic_rows": topic_rows,
        "feedback_rows": feedback_rows,
        "inbox_rows": inbox_rows,
        "overdue": overdue,
        "outcome_series": outcome_series,
        "renew_default": (today() + RENEWAL).isoformat(),
        "tomorrow": (today() + timedelta(days=1)).isoformat(),
        "handoffs": handoffs,
        "answered_by_person": (
            round(100 * handoffs["answered_by_person_share"])
            if handoffs["answered_by_person_share"] is not None
            else None
        ),
    }


def minutes(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} 秒"
    return f"{seconds // 60} 分 {seconds % 60} 秒"


@routes.get("/admin/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    days = stats.parse_days(request.query.get("days"))
    with db(request) as session:
        who = logged_in(request, session)
    data = await asyncio.to_thread(dashboard_data, request.app[SESSIONMAKER], days)
    context = {
        **data,
        "days": days,
        "day_choices": sorted({*DAY_CHOICES, days}),
        "outcome_names": stats.OUTCOMES,
        "minutes": minutes,
        "nav": "dashboard",
    }
    return render(request, "dashboard.html", context, who=who)


@routes.get("/api/v1/stats")
async def stats_api(request: web.Request) -> web.Response:
    """Counts of the last ``days`` days (default 30, at most 366); a bad ``days`` is 400 in Chinese."""
    with db(request) as session:
        api_user(request, session)
    days = stats.parse_days(request.query.get("days"))

    def read() -> dict[str, Any]:
        with request.app[SESSIONMAKER]() as session, session.begin():
            return stats.summary(session, days=days)

    return web.json_response(await asyncio.to_thread(read))
