"""Review dates (issue 14) on SQLite and PostgreSQL: the dated note residents get after an entry's
review date, renewal by a reviewer (audited, no new version), the API, the admin form, and
export/import. Seeded entries carry no review date, so none of their answers gets the note.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from knowledge import review_dates, transfer
from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.errors import Forbidden, Invalid
from knowledge.models import AuditEvent, FaqEntry, StaffUser
from knowledge.staff import create_user
from web.app import init_app

QUESTION = "杭州老旧小区加装电梯有什么政策？"  # published, seeded, cites 第9条
REVIEWER = ("reviewer-rb", "Review-Passw0rd!")
EDITOR = ("editor-rb", "Editor-Passw0rd!")
NOTE = re.compile(r"\n（本条信息核对于(\d{4})年(\d{1,2})月(\d{1,2})日，可能已有变化，请以官方最新发布为准。）$")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
        create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
    yield url
    get_engine(url).dispose()


def user(session, name: str) -> StaffUser:
    return session.scalars(select(StaffUser).where(StaffUser.username == name)).one()


def entry_id(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(FaqEntry.id).where(FaqEntry.question == QUESTION))


def residents_get(url: str) -> str:
    return AnswerEngine(get_sessionmaker(url)).answer(text=QUESTION, topic="elevator").text


def make_overdue(url: str, faq_id: int, days: int = 3) -> str:
    """Put the entry's review date ``days`` in the past (as time passing would)."""
    past = (review_dates.today() - timedelta(days=days)).isoformat()
    with session_scope(url) as s:
        s.execute(update(FaqEntry.__table__).where(FaqEntry.__table__.c.id == faq_id).values(review_by=past))
    return past


def test_seeded_entries_have_no_review_date_and_answers_no_note(url: str) -> None:
    with session_scope(url) as s:
        dates = s.scalars(select(FaqEntry.review_by).where(FaqEntry.key.is_not(None))).all()
    assert len(dates) > 100 and set(dates) == {None}
    assert "可能已有变化" not in residents_get(url)


def test_past_its_review_date_residents_get_the_answer_with_a_dated_note_until_renewed(url: str) -> None:
    faq_id = entry_id(url)
    plain = residents_get(url)
    with session_scope(url) as s:
        version = s.get(FaqEntry, faq_id).version
        updated = s.get(FaqEntry, faq_id).updated_at
        review_dates.set_review_by(
            s, entry_id=faq_id, review_by=review_dates.today().isoformat(), user=user(s, REVIEWER[0])
        )
    assert residents_get(url) == plain  # the review day itself is still in time

    make_overdue(url, faq_id)
    noted = residents_get(url)
    assert noted.startswith(plain)
    found = NOTE.search(noted)
    assert found, noted
    checked = updated if updated.tzinfo else updated.replace(tzinfo=timezone.utc)
    day = checked.astimezone(review_dates.CHINA_TIME).date()
    assert tuple(map(int, found.groups())) == (day.year, day.month, day.day)  # dated: when last confirmed

    with session_scope(url) as s:
        renewed = review_dates.renew(s, entry_id=faq_id, user=user(s, REVIEWER[0]))
        assert renewed.review_by == (review_dates.today() + review_dates.RENEWAL).isoformat()
        assert renewed.version == version  # not content: no new version, open edit forms stay valid
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.target == f"faq:{faq_id}")).all()
    assert residents_get(url) == plain
    assert "faq.review_by" in actions and "faq.renew" in actions

    # overdue again after the renewal: the note now carries the renewal's date (today)
    make_overdue(url, faq_id)
    today = review_dates.today()
    assert NOTE.search(residents_get(url)).groups() == (str(today.year), str(today.month), str(today.day))


def test_only_reviewers_set_review_dates_and_bad_dates_are_refused_in_chinese(url: str) -> None:
    faq_id = entry_id(url)
    with session_scope(url) as s:
        with pytest.raises(Forbidden):
            review_dates.set_review_by(s, entry_id=faq_id, review_by="2099-01-01", user=user(s, EDITOR[0]))
        with pytest.raises(Forbidden):
            review_dates.renew(s, entry_id=faq_id, user=user(s, EDITOR[0]))
        for bad in ("2027-02-30", "明年", "2027/06/30", "27-6-30", 20270630, "1999-01-01"):
            with pytest.raises(Invalid) as refused:
                review_dates.set_review_by(s, entry_id=faq_id, review_by=bad, user=user(s, REVIEWER[0]))
            assert re.search(r"[\u4e00-\u9fff]", refused.value.message)
        yesterday = (review_dates.today() - timedelta(days=1)).isoformat()
        with pytest.raises(Invalid, match="不能早于今天"):
            review_dates.set_review_by(s, entry_id=faq_id, review_by=yesterday, user=user(s, REVIEWER[0]))
        assert s.get(FaqEntry, faq_id).review_by is None


def test_overdue_entries_lists_published_entries_past_their_date(url: str) -> None:
    faq_id = entry_id(url)
    with session_scope(url) as s:
        assert review_dates.overdue_entries(s) == []
    past = make_overdue(url, faq_id, days=5)
    with session_scope(url) as s:
        listed = review_dates.overdue_entries(s)
    assert [(e["id"], e["review_by"], e["days_overdue"]) for e in listed] == [(faq_id, past, 5)]


# -- the API and the admin --------------------------------------------------------------------------
@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as client:
        yield client


async def api_token(client: TestClient, who: tuple[str, str]) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


async def test_the_api_sets_shows_and_renews_review_dates(client: TestClient, url: str) -> None:
    faq_id = entry_id(url)
    reviewer, editor = await api_token(client, REVIEWER), await api_token(client, EDITOR)
    entry = await (await client.get(f"/api/v1/faqs/{faq_id}", headers=reviewer)).json()
    assert entry["review_by"] is None and entry["reviewed_at"] is None

    future = (review_dates.today() + timedelta(days=90)).isoformat()
    reply = await client.put(f"/api/v1/faqs/{faq_id}/review_by", json={"review_by": future}, headers=reviewer)
    assert reply.status == 200
    body = await reply.json()
    assert body["review_by"] == future and body["version"] == entry["version"]
    assert (await (await client.get(f"/api/v1/faqs/{faq_id}", headers=reviewer)).json())["review_by"] == future

    refused = await client.put(f"/api/v1/faqs/{faq_id}/review_by", json={"review_by": future}, headers=editor)
    assert refused.status == 403
    for bad in ({"review_by": "下个月"}, {"review_by": "2020-01-01"}, {}, {"review_by": [1]}):
        reply = await client.put(f"/api/v1/faqs/{faq_id}/review_by", json=bad, headers=reviewer)
        assert reply.status == 422, bad
        assert re.search(r"[\u4e00-\u9fff]", (await reply.json())["message"])
    missing = await client.put("/api/v1/faqs/999999/review_by", json={"review_by": future}, headers=reviewer)
    assert missing.status == 404

    make_overdue(url, faq_id)
    assert NOTE.search(residents_get(url))
    renewed = await client.post(f"/api/v1/faqs/{faq_id}/renew", json={}, headers=reviewer)
    assert renewed.status == 200
    body = await renewed.json()
    assert body["review_by"] == (review_dates.today() + review_dates.RENEWAL).isoformat() and body["reviewed_at"]
    assert not NOTE.search(residents_get(url))

    cleared = await client.put(f"/api/v1/faqs/{faq_id}/review_by", json={"review_by": None}, headers=reviewer)
    assert (await cleared.json())["review_by"] is None


async def log_in(client: TestClient, who: tuple[str, str]) -> None:
    page = await (await client.get("/admin/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "username": who[0], "password": who[1], "next": "/admin"}
    reply = await client.post("/admin/login", data=data, allow_redirects=False)
    assert reply.status == 303


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_the_entry_page_sets_and_renews_the_review_date(client: TestClient, url: str) -> None:
    faq_id = entry_id(url)
    await log_in(client, REVIEWER)
    page = await (await client.get(f"/admin/faqs/{faq_id}")).text()
    assert "未设核对日期" in page and f'action="/admin/faqs/{faq_id}/review_by"' in page
    future = (review_dates.today() + timedelta(days=30)).isoformat()
    reply = await client.post(
        f"/admin/faqs/{faq_id}/review_by", data={"csrf_token": csrf_of(page), "review_by": future}
    )
    page = await reply.text()
    assert reply.status == 200 and "已保存核对日期。" in page and f'value="{future}"' in page

    refused = await client.post(
        f"/admin/faqs/{faq_id}/review_by", data={"csrf_token": csrf_of(page), "review_by": "2020-13-01"}
    )
    assert refused.status == 422 and "核对日期格式不正确" in await refused.text()

    make_overdue(url, faq_id)
    page = await (await client.get(f"/admin/faqs/{faq_id}")).text()
    assert 'id="review-overdue"' in page
    reply = await client.post(f"/admin/faqs/{faq_id}/renew", data={"csrf_token": csrf_of(page), "review_by": ""})
    assert "已确认内容仍然有效并续期" in await reply.text()
    assert not NOTE.search(residents_get(url))

    forged = await client.post(f"/admin/faqs/{faq_id}/renew", data={"csrf_token": "forged", "review_by": ""})
    assert forged.status == 403


# -- export and import --------------------------------------------------------------------------------
def test_export_and_import_carry_the_review_date(url: str) -> None:
    faq_id = entry_id(url)
    future = (review_dates.today() + timedelta(days=400)).isoformat()
    with session_scope(url) as s:
        exported = yaml.safe_load(transfer.export_entries(s, fmt="yaml"))["entries"]
        row = next(r for r in exported if r["id"] == faq_id)
        assert row["review_by"] is None
        row["review_by"] = future
        data = yaml.safe_dump({"entries": [row]}, allow_unicode=True).encode()

        editor_report = transfer.import_entries(s, data=data, fmt="yaml", user=user(s, EDITOR[0]), dry_run=False)
        assert not editor_report.ok and "需要审核员" in editor_report.errors[0][1]
        report = transfer.import_entries(s, data=data, fmt="yaml", user=user(s, REVIEWER[0]), dry_run=False)
        assert report.ok and report.updated == 1, report.as_dict()
    with session_scope(url) as s:
        assert s.get(FaqEntry, faq_id).review_by == future
        csv_text = transfer.export_entries(s, fmt="csv").decode("utf-8-sig")
    header, *lines = csv_text.splitlines()
    assert header.endswith(",review_by")
    assert any(line.startswith(f"{faq_id},") and line.endswith(f",{future}") for line in lines)

    # a file without the column leaves the date alone; a past date is refused; an empty cell clears it
    del row["review_by"]
    with session_scope(url) as s:
        data = yaml.safe_dump({"entries": [row]}, allow_unicode=True).encode()
        report = transfer.import_entries(s, data=data, fmt="yaml", user=user(s, REVIEWER[0]), dry_run=False)
        assert report.ok and report.unchanged == 1
        past = yaml.safe_dump({"entries": [{**row, "review_by": "2020-01-01"}]}, allow_unicode=True).encode()
        report = transfer.import_entries(s, data=past, fmt="yaml", user=user(s, REVIEWER[0]), dry_run=False)
        assert not report.ok and "不能早于今天" in report.errors[0][1]
        cleared = yaml.safe_dump({"entries": [{**row, "review_by": ""}]}, allow_unicode=True).encode()
        report = transfer.import_entries(s, data=cleared, fmt="yaml", user=user(s, REVIEWER[0]), dry_run=False)
        assert report.ok and report.updated == 1
    with session_scope(url) as s:
        assert s.get(FaqEntry, faq_id).review_by is None


def test_review_dates_keep_no_revision_and_the_entry_version(url: str) -> None:
    faq_id = entry_id(url)
    with session_scope(url) as s:
        before = s.get(FaqEntry, faq_id)
        version, updated_by = before.version, before.updated_by
        review_dates.set_review_by(s, entry_id=faq_id, review_by="2099-12-31", user=user(s, REVIEWER[0]))
    with session_scope(url) as s:
        after = s.get(FaqEntry, faq_id)
        assert (after.version, after.updated_by, after.review_by) == (version, updated_by, "2099-12-31")
        assert isinstance(after.updated_at, datetime)
