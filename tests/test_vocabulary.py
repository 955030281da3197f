"""The vocabulary (everyday words -> the plan's terms) as staff data, on real SQLite and PostgreSQL.

A word staff add through the API is used by the very next question of an answer engine that was
already running (no restart, no retraining); deleting it stops that. Writes are version-checked,
role-checked and audited; bad words get Chinese messages; the build seeds the table from
knowledge/synonyms.yml without overwriting staff edits; the backup carries the table; the search
reads the fingerprint with no more statements than before.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, func, select

from knowledge import backup, queries, text, vocabulary
from knowledge.answering import UNKNOWN, AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.models import BUILD_USER, AuditEvent, StaffUser, VocabularyTerm
from knowledge.settings import FAQ_DIR, SOURCES_DIR
from knowledge.staff import create_user
from knowledge.text import SEED_FILE
from tests.test_admin_views import Page, open_page
from tests.test_admin_views import login as admin_login
from web.admin import CSRF_FIELD as CSRF
from web.app import init_app

ADMIN = ("vocab-admin", "Vocab-Adm1n-Passw0rd!")
EDITOR = ("vocab-editor", "Vocab-Ed1tor-Passw0rd!")
QUESTION = "托娃所怎么收费"
NEW_WORD = {"variant": "托娃所", "canonical": "托育", "note": "居民来信里的说法"}


@pytest.fixture(autouse=True)
def seed_vocabulary_after() -> Iterator[None]:
    """The vocabulary is process-wide: leave the seed file's list for the tests that follow."""
    yield
    text.set_vocabulary(text.seed_vocabulary())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    kb = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=kb)
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    yield kb
    get_engine(kb).dispose()


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as test_client:
        with session_scope(url) as session:
            create_user(session, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        yield test_client


async def login(client: TestClient, who: tuple[str, str] = ADMIN) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert reply.status == 200, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


def childcare_fee_entry(url: str) -> int:
    """The curated entry residents asking what childcare costs should get."""
    engine = AnswerEngine(get_sessionmaker(url))
    answer = engine.answer(text="托育怎么收费", topic=None)
    assert answer.found and answer.topic == "childcare" and "收费" in answer.text
    assert answer.faq_id is not None
    return answer.faq_id


# -- live through the API ------------------------------------------------------------------------


async def test_a_word_added_through_the_api_is_used_at_once_and_deleting_it_stops_that(client: TestClient, url: str):
    fee_entry = childcare_fee_entry(url)
    engine = AnswerEngine(get_sessionmaker(url))  # already running: it has built its index
    before = engine.answer(text=QUESTION, topic=None)
    assert not before.found  # "托娃所" is no word of the plan's
    assert all(h.ref != f"faq:{fee_entry}" or h.coverage < 0.4 for h in engine.hits(text=QUESTION))

    headers = await login(client)
    created = await client.post("/api/v1/vocabulary", json=NEW_WORD, headers=headers)
    assert created.status == 201, await created.text()
    word = await created.json()
    assert (word["variant"], word["canonical"], word["version"], word["created_by"]) == ("托娃所", "托育", 1, ADMIN[0])

    after = engine.answer(text=QUESTION, topic=None)
    assert after.found and after.faq_id == fee_entry and after.topic == "childcare"
    assert engine.hits(text=QUESTION)[0].ref == f"faq:{fee_entry}"
    listed = await (await client.get("/api/v1/vocabulary", params={"q": "托娃"}, headers=headers)).json()
    assert [w["id"] for w in listed["items"]] == [word["id"]] and listed["count"] == 1

    deleted = await client.delete(f"/api/v1/vocabulary/{word['id']}", params={"version": "1"}, headers=headers)
    assert deleted.status == 200 and (await deleted.json())["deleted"] is True
    assert not engine.answer(text=QUESTION, topic=None).found
    gone = await client.get(f"/api/v1/vocabulary/{word['id']}", headers=headers)
    assert gone.status == 404 and "词表" in (await gone.json())["message"]

    # The same word added again comes back (the deleted row is reused: the variant is unique).
    again = await client.post("/api/v1/vocabulary", json=NEW_WORD, headers=headers)
    assert again.status == 201 and (await again.json())["id"] == word["id"]
    assert engine.answer(text=QUESTION, topic=None).faq_id == fee_entry

    with session_scope(url) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"vocabulary:{word['id']}"))
        assert list(actions) == ["vocabulary.create", "vocabulary.delete", "vocabulary.create"]


async def test_a_changed_word_is_used_at_once(client: TestClient, url: str):
    fee_entry = childcare_fee_entry(url)
    engine = AnswerEngine(get_sessionmaker(url))
    headers = await login(client)
    word = await (
        await client.post("/api/v1/vocabulary", json={"variant": "托娃所", "canonical": "公租房"}, headers=headers)
    ).json()
    # "公租房" is itself a resident's word for 保障性租赁住房: refused, point to the plan's term
    assert word["error"] == "invalid_term" and "保障性租赁住房" in word["details"]["canonical"]
    word = await (
        await client.post("/api/v1/vocabulary", json={"variant": "托娃所", "canonical": "落户"}, headers=headers)
    ).json()
    assert engine.answer(text=QUESTION, topic=None).faq_id != fee_entry
    changed = await client.put(
        f"/api/v1/vocabulary/{word['id']}", json={**NEW_WORD, "version": word["version"]}, headers=headers
    )
    assert changed.status == 200 and (await changed.json())["version"] == 2
    assert engine.answer(text=QUESTION, topic=None).faq_id == fee_entry


async def test_a_stale_version_gets_409_with_the_current_word_and_nothing_is_overwritten(client: TestClient):
    headers = await login(client)
    word = await (await client.post("/api/v1/vocabulary", json=NEW_WORD, headers=headers)).json()
    path = f"/api/v1/vocabulary/{word['id']}"
    first = await client.put(path, json={**NEW_WORD, "note": "第一位工作人员", "version": 1}, headers=headers)
    assert first.status == 200
    second = await client.put(path, json={**NEW_WORD, "note": "基于旧版本", "version": 1}, headers=headers)
    assert second.status == 409
    body = await second.json()
    assert body["error"] == "version_conflict" and "已被他人修改" in body["message"] and "词条" in body["message"]
    assert body["current"]["note"] == "第一位工作人员" and body["current"]["version"] == 2
    stale_delete = await client.delete(path, params={"version": "1"}, headers=headers)
    assert stale_delete.status == 409 and (await stale_delete.json())["current"]["version"] == 2
    no_version = await client.put(path, json=NEW_WORD, headers=headers)
    assert no_version.status == 422 and (await no_version.json())["error"] == "version_required"
    stored = await (await client.get(path, headers=headers)).json()
    assert (stored["note"], stored["version"], stored["deleted"]) == ("第一位工作人员", 2, False)


@pytest.mark.parametrize(
    ("word", "field", "message"),
    [
        ({"variant": "", "canonical": "托育"}, "variant", "常用说法不能为空"),
        ({"variant": "托娃所", "canonical": "  "}, "canonical", "规范词不能为空"),
        ({"canonical": "托育"}, "variant", "常用说法不能为空"),
        ({"variant": "托" * 21, "canonical": "托育"}, "variant", "最多20个字"),
        ({"variant": "托娃所", "canonical": "托" * 21}, "canonical", "最多20个字"),
        ({"variant": "娃", "canonical": "托育"}, "variant", "至少2个字"),
        ({"variant": "托 娃", "canonical": "托育"}, "variant", "只能包含汉字、字母和数字"),
        ({"variant": "托育", "canonical": "托育"}, "canonical", "相同"),
        ({"variant": "託育", "canonical": "托育"}, "canonical", "相同"),  # the same once simplified
        ({"variant": "托儿所", "canonical": "托育"}, "variant", "“托儿所”已在词表中（对应“托育”）"),
        ({"variant": "托育", "canonical": "托儿所"}, "canonical", "会形成循环"),  # 托儿所 -> 托育 is seeded
        ({"variant": "托育", "canonical": "婴幼儿"}, "variant", "“托育”已是规范词"),
        ({"variant": "托娃所", "canonical": "托班"}, "canonical", "请直接对应到“托育”"),
        ({"variant": "托娃所", "canonical": "火星基地"}, "canonical", "没有出现在任何条款或已发布的问答条目中"),
        ({"variant": "托娃所", "canonical": "托育", "note": "备" * 201}, "note", "备注太长"),
        ({"variant": "托\x00娃", "canonical": "托育"}, "variant", "无效字符"),
    ],
)
async def test_bad_words_are_refused_with_chinese_messages(client: TestClient, url: str, word, field, message):
    with session_scope(url) as session:
        count = session.scalar(select(func.count()).select_from(VocabularyTerm))
    reply = await client.post("/api/v1/vocabulary", json=word, headers=await login(client))
    assert reply.status == 422
    body = await reply.json()
    assert body["error"] == "invalid_term" and message in body["details"][field] and message in body["message"]
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(VocabularyTerm)) == count


def test_a_word_saved_by_someone_else_a_moment_ago_is_a_clear_refusal(url: str, monkeypatch: pytest.MonkeyPatch):
    """Two staff members adding one word at once: the checks pass for both, the unique variant stops the second."""
    with session_scope(url) as session:
        reviewer = create_user(session, username="wang", password="Strong-Passw0rd!x", role="reviewer", actor="test")
    monkeypatch.setattr(vocabulary, "_check", lambda *args, **kwargs: None)  # as if checked before the other saved
    with pytest.raises(vocabulary.Invalid, match="刚刚已被他人加入词表"), session_scope(url) as session:
        data = vocabulary.TermInput.from_mapping({"variant": "杭户", "canonical": "落户"})
        vocabulary.create_term(session, data=data, user=session.merge(reviewer))
    assert words(url)["杭户"] == ("落户", BUILD_USER, False)


async def test_editors_read_the_list_but_only_reviewers_change_it(client: TestClient):
    editor = await login(client, EDITOR)
    listed = await client.get("/api/v1/vocabulary", headers=editor)
    assert listed.status == 200
    seeded = (await listed.json())["items"]
    assert {"variant": "杭户", "canonical": "落户"}.items() <= next(w for w in seeded if w["variant"] == "杭户").items()
    refused = await client.post("/api/v1/vocabulary", json=NEW_WORD, headers=editor)
    assert refused.status == 403 and "审核员" in (await refused.json())["message"]
    hang = next(w for w in seeded if w["variant"] == "杭户")
    delete = await client.delete(
        f"/api/v1/vocabulary/{hang['id']}", params={"version": hang["version"]}, headers=editor
    )
    assert delete.status == 403
    assert (await client.get("/api/v1/vocabulary")).status == 401


# -- the search engine -------------------------------------------------------------------------


def test_the_fingerprint_stays_two_statements_and_a_vocabulary_change_rebuilds_the_index(
    fresh_kb_url: str, monkeypatch: pytest.MonkeyPatch
):
    make_session = get_sessionmaker(fresh_kb_url)
    engine = AnswerEngine(make_session)
    engine.answer(text="托育怎么收费", topic=None)
    statements: list[str] = []

    def count(*args) -> None:  # type: ignore[no-untyped-def]
        statements.append(args[2])

    event.listen(get_engine(fresh_kb_url), "before_cursor_execute", count)
    try:
        with make_session() as session:
            index = engine._current_index(session)
        assert statements == []  # SQLite: nothing committed since the last check, no statement at all
        with monkeypatch.context() as m:
            m.setattr(engine._changes, "read", lambda: UNKNOWN)  # as on PostgreSQL
            with make_session() as session:
                assert engine._current_index(session) is index
        assert len(statements) == 2, statements  # the fingerprint's two statements, as before the vocabulary
        with session_scope(fresh_kb_url) as session:
            admin = create_user(session, username="wang", password="Strong-Passw0rd!x", role="reviewer", actor="test")
            vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(NEW_WORD), user=admin)
        statements.clear()
        with make_session() as session:
            rebuilt = engine._current_index(session)
    finally:
        event.remove(get_engine(fresh_kb_url), "before_cursor_execute", count)
    assert rebuilt is not index  # a new index, every document's terms made with the new list
    assert ("托娃所", "托育") in text.vocabulary()
    with make_session() as session:
        assert queries.kb_fingerprint(session)[-2][0] == session.scalar(select(func.count(VocabularyTerm.id)))


def test_the_vocabulary_words_are_kept_whole_by_jieba_and_taken_out_again():
    seed = text.seed_vocabulary()
    text.set_vocabulary(seed)
    tokenizer = text._jieba()
    total, known = tokenizer.total, tokenizer.FREQ.get("托娃所", 0)
    assert known == 0 and "托娃所" not in tokenizer.lcut("我想问托娃所的事")
    text.set_vocabulary([*seed, ("小饭桌", "老年助餐"), ("托娃所", "托育")])
    assert "托娃所" not in text.normalize("托娃所怎么收费") and "托育" in text.terms("托娃所怎么收费")
    assert "托娃所" in tokenizer.lcut("我想问托娃所的事")  # a variant beside its term stays whole
    text.set_vocabulary(seed)
    assert (tokenizer.total, tokenizer.FREQ.get("托娃所", 0)) == (total, 0)
    assert "托娃所" in text.normalize("托娃所怎么收费")


def test_two_engines_on_two_knowledge_bases_keep_their_own_vocabulary(fresh_kb_url: str, kb_url: str):
    fee_entry = childcare_fee_entry(kb_url)
    with session_scope(fresh_kb_url) as session:
        admin = create_user(session, username="wang", password="Strong-Passw0rd!x", role="reviewer", actor="test")
        vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(NEW_WORD), user=admin)
    with_word = AnswerEngine(get_sessionmaker(fresh_kb_url))
    without = AnswerEngine(get_sessionmaker(kb_url))
    for _ in range(2):
        assert with_word.answer(text=QUESTION, topic=None).faq_id == fee_entry
        assert not without.answer(text=QUESTION, topic=None).found


# -- the build ---------------------------------------------------------------------------------


def words(url: str) -> dict[str, tuple[str, str, bool]]:
    with session_scope(url) as session:
        return {
            t.variant: (t.canonical, t.updated_by, t.deleted_at is not None)
            for t in session.scalars(select(VocabularyTerm))
        }


def test_the_build_seeds_the_table_from_the_seed_file(fresh_kb_url: str):
    seeded = words(fresh_kb_url)
    assert seeded["杭户"] == ("落户", BUILD_USER, False) and seeded["公租房"] == ("保障性租赁住房", BUILD_USER, False)
    assert set(seeded) == {vocabulary.clean_word(v) for v, _ in text.read_seed_file()}
    report = build(url=fresh_kb_url)
    assert (report.vocabulary.inserted, report.vocabulary.updated, report.vocabulary.retired) == (0, 0, 0)
    assert words(fresh_kb_url) == seeded


def test_the_build_keeps_staff_edits_and_follows_the_file_elsewhere(fresh_kb_url: str, tmp_path: Path):
    with session_scope(fresh_kb_url) as session:
        reviewer = create_user(session, username="wang", password="Strong-Passw0rd!x", role="reviewer", actor="test")
        by_variant = {t.variant: t for t in session.scalars(select(VocabularyTerm))}
        changed, removed = by_variant["老小区"], by_variant["人才房"]
        data = vocabulary.TermInput.from_mapping({"variant": "老小区", "canonical": "老旧小区", "note": "确认过"})
        vocabulary.update_term(session, term_id=changed.id, data=data, expected_version=changed.version, user=reviewer)
        vocabulary.delete_term(session, term_id=removed.id, expected_version=removed.version, user=reviewer)
        vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(NEW_WORD), user=reviewer)
    seed = tmp_path / "synonyms.yml"
    shutil.copy(SEED_FILE, seed)
    content = seed.read_text(encoding="utf-8")
    assert "[地铁]" in content and "共产房, " in content and "租赁住房: [租凭住房, 租赁房, 出租房]" in content
    content = content.replace("[地铁]", "[地铁, 轻轨]").replace("共产房, ", "")
    content = content.replace("租赁住房: [租凭住房, 租赁房, 出租房]", "租赁住房: [租凭住房, 租赁房]")
    content = content.replace("保障性租赁住房: [", "保障性租赁住房: [出租房, ")
    seed.write_text(content, encoding="utf-8")

    report = build(url=fresh_kb_url, synonyms_file=seed).vocabulary
    after = words(fresh_kb_url)
    assert after["老小区"] == ("老旧小区", "wang", False)  # staff edit kept
    assert after["人才房"] == ("人才专项租赁住房", "wang", True)  # staff deletion kept: not seeded again
    assert after["托娃所"] == ("托育", "wang", False)  # staff word kept
    assert after["轻轨"] == ("轨道交通", BUILD_USER, False)  # new in the file
    assert after["出租房"] == ("保障性租赁住房", BUILD_USER, False)  # changed in the file, untouched by staff
    assert after["共产房"] == ("共有产权住房", BUILD_USER, True)  # dropped from the file, untouched by staff
    assert (report.inserted, report.updated, report.retired) == (1, 1, 1)
    assert {"老小区", "人才房"} <= set(report.kept_staff_edits)
    again = build(url=fresh_kb_url, synonyms_file=seed).vocabulary
    assert (again.inserted, again.updated, again.retired) == (0, 0, 0) and words(fresh_kb_url) == after


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("托育: [托娃所]\n托娃所: [托育]\n", "会形成循环"),
        ("托育: [托儿所]\n落户: [托儿所]\n", "同时对应"),
        ("托育: [托育]\n", "相同"),
        ("托育: [托]\n", "至少2个字"),
        ("托育: 托儿所\n", "无法读取"),
        ("成长驿站: [育儿驿站]\n托育: [托儿所]\n成长驿站: [成长译站]\n", "写了两行"),
    ],
)
def test_a_broken_seed_file_fails_the_build_before_anything_is_written(tmp_path: Path, content: str, problem: str):
    seed = tmp_path / "synonyms.yml"
    seed.write_text(content, encoding="utf-8")
    with pytest.raises(vocabulary.SeedFileError, match=problem):
        build(url=f"sqlite:///{tmp_path / 'kb.sqlite3'}", synonyms_file=seed)
    assert not (tmp_path / "kb.sqlite3").exists()


def test_the_backup_carries_the_vocabulary(fresh_kb_url: str, tmp_path: Path):
    with session_scope(fresh_kb_url) as session:
        reviewer = create_user(session, username="wang", password="Strong-Passw0rd!x", role="reviewer", actor="test")
        vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(NEW_WORD), user=reviewer)
    path, _ = backup.write_backup(fresh_kb_url, tmp_path / "backups")
    target = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    result = backup.restore(path, target)
    assert "常用说法词表" in result.summary()
    assert words(target) == words(fresh_kb_url) and words(target)["托娃所"] == ("托育", "wang", False)
    with session_scope(target) as session:
        assert session.scalar(select(StaffUser.username).where(StaffUser.username == "wang")) == "wang"


# -- the admin page ------------------------------------------------------------------------------


@pytest.fixture
async def admin_client(fresh_kb_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    async with TestClient(TestServer(init_app(fresh_kb_url))) as test_client:
        with session_scope(fresh_kb_url) as session:
            create_user(session, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        yield test_client


def add_form(page: Page) -> dict[str, str]:
    """The form that adds a word (the search form posts nowhere and has no CSRF token)."""
    forms = [f["fields"] for f in page.forms if f["action"] == "/admin/vocabulary" and "variant" in f["fields"]]
    assert len(forms) == 1, page.forms
    return dict(forms[0])


def term_id_of(url: str, variant: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(VocabularyTerm.id).where(VocabularyTerm.variant == variant))


async def test_the_admin_page_lists_searches_adds_edits_and_deletes(admin_client: TestClient, fresh_kb_url: str):
    client = admin_client
    fee_entry = childcare_fee_entry(fresh_kb_url)
    engine = AnswerEngine(get_sessionmaker(fresh_kb_url))
    assert not engine.answer(text=QUESTION, topic=None).found
    await admin_login(client, *ADMIN)
    page, html = await open_page(client, "/admin/vocabulary")
    assert 'href="/admin/vocabulary" aria-current="page"' in html and ">杭户</a>" in html and ">公租房</a>" in html
    _, found = await open_page(client, "/admin/vocabulary?q=杭户")
    assert ">杭户</a>" in found and ">公租房</a>" not in found and "共 1 条" in found

    form = add_form(page)
    added = await client.post("/admin/vocabulary", data={**form, **NEW_WORD})
    html = await added.text()
    assert added.status == 200 and added.url.path == "/admin/vocabulary" and "已添加" in html, html
    assert engine.answer(text=QUESTION, topic=None).faq_id == fee_entry  # live at once

    again = await client.post("/admin/vocabulary", data={**form, **NEW_WORD, "note": "再加一次"})
    html = await again.text()
    assert again.status == 422 and "“托娃所”已在词表中（对应“托育”）" in html
    assert add_form(Page(html))["note"] == "再加一次"  # what was typed comes back

    term_id = term_id_of(fresh_kb_url, "托娃所")
    edit_path = f"/admin/vocabulary/{term_id}"
    edit, _ = await open_page(client, edit_path)
    fields = edit.form(edit_path)
    assert (fields["variant"], fields["canonical"], fields["version"]) == ("托娃所", "托育", "1")
    saved = await client.post(edit_path, data={**fields, "note": "第一次修改"})
    assert saved.status == 200 and "已保存" in await saved.text()
    stale = await client.post(edit_path, data={**fields, "note": "基于旧版本"})
    html = await stale.text()
    assert stale.status == 409 and "已被他人修改" in html and "没有丢失" in html
    assert Page(html).form(edit_path)["note"] == "基于旧版本" and Page(html).form(edit_path)["version"] == "2"
    invalid = await client.post(edit_path, data={**fields, "version": "2", "canonical": "火星基地"})
    html = await invalid.text()
    assert (
        invalid.status == 422 and "没有出现在任何条款" in html and Page(html).form(edit_path)["canonical"] == "火星基地"
    )

    confirm, html = await open_page(client, f"{edit_path}/delete")
    assert "确定要删除吗" in html and "“托娃所”不再替换为“托育”" in html
    deleted = await client.post(f"{edit_path}/delete", data=confirm.form(f"{edit_path}/delete"))
    assert deleted.status == 200 and deleted.url.path == "/admin/vocabulary" and "已删除" in await deleted.text()
    assert not engine.answer(text=QUESTION, topic=None).found
    assert (await client.get(edit_path)).status == 404

    with session_scope(fresh_kb_url) as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"vocabulary:{term_id}")))
    assert actions == ["vocabulary.create", "vocabulary.update", "vocabulary.delete"]

    for path in ("/admin/vocabulary", f"/admin/vocabulary/{term_id_of(fresh_kb_url, '杭户')}"):
        _, html = await open_page(client, path)
        assert "<script>" not in html and " style=" not in html and "<style" not in html, path


async def test_the_admin_page_needs_a_reviewer_and_the_csrf_token(admin_client: TestClient, fresh_kb_url: str):
    client = admin_client
    await admin_login(client, *ADMIN)
    page, _ = await open_page(client, "/admin/vocabulary")
    forged = await client.post("/admin/vocabulary", data={**add_form(page), **NEW_WORD, CSRF: "x"})
    assert forged.status == 403 and "安全校验失败" in await forged.text()
    assert term_id_of(fresh_kb_url, "托娃所") is None
    await client.post("/admin/logout", data={CSRF: add_form(page)[CSRF]})

    await admin_login(client, *EDITOR)
    page, html = await open_page(client, "/admin/vocabulary")
    assert "只有审核员及以上角色可以修改词表" in html and "杭户" in html
    assert not any("variant" in f["fields"] for f in page.forms)
    csrf = page.forms[0]["fields"][CSRF]  # the logout form carries the session's token
    refused = await client.post("/admin/vocabulary", data={CSRF: csrf, **NEW_WORD})
    html = await refused.text()
    assert refused.status == 403 and "权限不足" in html
    assert term_id_of(fresh_kb_url, "托娃所") is None


# -- the seed file's words against the plan -------------------------------------------------------

# Canonical terms that come from the curated answers' wording, not from the documents: they join
# definition, cost and rent questions to the "…是什么意思" / "…费用" / "…租金" entries.
FAQ_PHRASING_TERMS = {"费用", "什么意思", "租金"}
SOURCE_FILES = ("plan_2021_2025.txt", "report_2022.txt")


def test_every_seed_word_maps_to_a_term_of_the_plan_or_the_report():
    documents = "".join((SOURCES_DIR / name).read_text(encoding="utf-8") for name in SOURCE_FILES)
    documents = text.simplified(documents).lower()
    faq = text.simplified("".join(p.read_text(encoding="utf-8") for p in sorted(FAQ_DIR.glob("*.yml")))).lower()
    pairs = text.read_seed_file()
    canonicals = {canonical for _, canonical in pairs}
    assert len(pairs) > 250 and {"精神残疾", "临时救助", "就业困难人员", "夜间经济", "税收优惠"} <= canonicals
    absent = sorted(c for c in canonicals - FAQ_PHRASING_TERMS if c.lower() not in documents)
    assert absent == [], f"规范词不在计划或2022年报道中：{absent}"
    assert all(term in faq for term in FAQ_PHRASING_TERMS)
    assert [v for v, _ in pairs if len(v) < 2] == []
    assert sorted(v for v, _ in pairs if v in canonicals) == []
    # A variant inside another line's term would rewrite that term wherever it stands.
    traps = sorted(f"{v}→{c} in {o}" for v, c in pairs for o in canonicals if o != c and v in o)
    assert traps == []


@pytest.mark.parametrize(
    ("question", "plan_term"),
    [
        ("我哥精神上有病，政府有地方能帮忙照顾吗", "精神残疾"),
        ("家里揭不开锅了，能申请什么补助", "临时救助"),
        ("大学毕业找不到工作政府管不管", "就业困难人员"),
        ("杭州夜市以后会多起来吗", "夜间经济"),
        ("慈善捐款能减税吗", "税收优惠"),
        ("在外地看病能直接报销吗", "异地就医"),
        ("退休金每年会涨吗", "养老金"),
        ("邻里纠纷有地方调解纠纷吗", "矛盾纠纷调处化解"),
    ],
)
def test_everyday_words_become_the_plan_s_terms(question: str, plan_term: str):
    assert plan_term in text.terms(question)
