"""FAQ import/export: CSV (Excel, UTF-8 with BOM or GBK) and YAML, all-or-nothing, on real databases."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from knowledge import staff, transfer
from knowledge.build import build
from knowledge.db import get_sessionmaker
from knowledge.models import AuditEvent, FaqEntry, FaqProposal, StaffUser
from web.app import init_app

PASSWORD = "Kb-Import-2025!x"


# -- helpers ------------------------------------------------------------------------


def add_user(url: str, username: str, role: str) -> None:
    with get_sessionmaker(url)() as session, session.begin():
        staff.create_user(session, username=username, password=PASSWORD, role=role, actor="test")


def user(session, username: str) -> StaffUser:  # type: ignore[no-untyped-def]
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def export(url: str, fmt: str = "csv") -> bytes:
    with get_sessionmaker(url)() as session:
        return transfer.export_entries(session, fmt=fmt)


def run_import(url: str, data: bytes, *, fmt: str = "csv", as_user: str = "rev", dry_run: bool = False):  # type: ignore[no-untyped-def]
    with get_sessionmaker(url)() as session, session.begin():
        return transfer.import_entries(session, data=data, fmt=fmt, user=user(session, as_user), dry_run=dry_run)


def entries(url: str) -> dict[int, tuple]:
    """Everything about every entry that an import could change."""
    with get_sessionmaker(url)() as session:
        stmt = select(FaqEntry).order_by(FaqEntry.id)
        return {
            e.id: (e.topic, e.question, tuple(e.alternatives), e.answer, e.clause_id, e.status, e.version, e.deleted_at)
            for e in session.scalars(stmt)
        }


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def write_csv(rows: list[dict[str, str]], *, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(transfer.COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def audit_actions(url: str) -> list[str]:
    with get_sessionmaker(url)() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def kb(fresh_kb_url: str) -> str:
    add_user(fresh_kb_url, "rev", "reviewer")
    add_user(fresh_kb_url, "ed", "editor")
    return fresh_kb_url


# -- export -------------------------------------------------------------------------


def test_export_csv_starts_with_bom_and_opens_as_utf8_sig(kb: str) -> None:
    with get_sessionmaker(kb)() as session, session.begin():
        deleted = session.scalar(select(FaqEntry).order_by(FaqEntry.id.desc()).limit(1))
        staff.delete_entry(session, entry_id=deleted.id, expected_version=deleted.version, user=user(session, "rev"))
        deleted_id = deleted.id
        first = staff.get_entry(session, entry_id=session.scalar(select(func.min(FaqEntry.id))))
        first_alternatives, first_source = list(first.alternatives), staff.entry_dict(first)["source"]
    data = export(kb)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(transfer.COLUMNS)
    rows = read_csv(data)
    live = [i for i, e in entries(kb).items() if e[7] is None]
    assert [int(r["id"]) for r in rows] == live
    assert deleted_id not in {int(r["id"]) for r in rows}
    assert rows[0]["alternatives"] == " | ".join(first_alternatives)
    assert rows[0]["source"] == first_source
    assert any("托位" in r["question"] for r in rows)  # the Chinese survives


def test_export_yaml_is_a_list_of_entries_with_readable_chinese(kb: str) -> None:
    data = export(kb, "yaml")
    assert "托位".encode() in data  # allow_unicode: no \u escapes
    document = yaml.safe_load(data)
    assert list(document) == ["entries"]
    first = document["entries"][0]
    assert list(first) == list(transfer.COLUMNS)
    assert isinstance(first["alternatives"], list) and isinstance(first["version"], int)


# -- CSV import ---------------------------------------------------------------------


def test_round_trip_is_all_unchanged(kb: str) -> None:
    before = entries(kb)
    report = run_import(kb, export(kb))
    assert report.ok and report.created == report.updated == 0
    assert report.unchanged == len(before)
    assert entries(kb) == before


def test_edited_answer_dry_run_writes_nothing_then_real_import_writes_it(kb: str) -> None:
    rows = read_csv(export(kb))
    rows[3]["answer"] = "新的答复：以最新公布的政策为准。"
    target, data = int(rows[3]["id"]), write_csv(rows)
    before = entries(kb)

    preview = run_import(kb, data, dry_run=True)
    assert (preview.ok, preview.dry_run, preview.created, preview.updated) == (True, True, 0, 1)
    assert preview.unchanged == len(rows) - 1
    assert preview.changes == [
        {"line": 5, "action": "update", "id": target, "question": rows[3]["question"], "status": "published"}
    ]
    assert entries(kb) == before
    assert "faq.import" not in audit_actions(kb)

    report = run_import(kb, data)
    assert (report.ok, report.dry_run, report.updated, report.unchanged) == (True, False, 1, len(rows) - 1)
    after = entries(kb)
    assert after[target][3] == "新的答复：以最新公布的政策为准。"
    assert after[target][6] == before[target][6] + 1
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    assert audit_actions(kb)[-2:] == ["faq.update", "faq.import"]
    again = run_import(kb, data)  # the same file again: stale version, but nothing to change
    assert (again.ok, again.updated, again.unchanged) == (True, 0, len(rows))


def test_bad_rows_are_all_reported_by_physical_line_and_nothing_is_written(kb: str) -> None:
    rows = read_csv(export(kb))[:4]
    rows[0]["answer"] = "第一行\n第二行\n第三行"  # a quoted cell over three physical lines (lines 2-4)
    rows[1]["topic"] = "weather"  # line 5
    rows[2]["answer"] = "改过的答复"  # a good row (line 6): must not be written either
    rows[3]["source"] = "第999条"  # line 7
    new = {"topic": "plan", "question": "新问题？", "answer": "新答复。", "source": "主要目标"}  # line 8
    before = entries(kb)

    report = run_import(kb, write_csv([*rows, new]))
    assert not report.ok
    assert [line for line, _ in report.errors] == [5, 7]
    assert report.errors[0][1].startswith("第5行：主题必须是")
    assert "第999条" in report.errors[1][1] and report.errors[1][1].startswith("第7行：")
    assert entries(kb) == before
    assert "faq.import" not in audit_actions(kb)


def test_gbk_csv_from_excel_imports(kb: str) -> None:
    rows = read_csv(export(kb))
    rows[0]["answer"] = "用GBK保存的答复：托位、落户。"
    new = {"topic": "hukou", "question": "积分落户怎么申请？", "answer": "请咨询当地派出所。", "source": "主要目标"}
    data = write_csv([*rows, new], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    report = run_import(kb, data)
    assert (report.ok, report.updated, report.created) == (True, 1, 1)
    after = entries(kb)
    assert after[int(rows[0]["id"])][3] == "用GBK保存的答复：托位、落户。"
    created = after[max(after)]
    assert (created[1], created[5], created[6]) == ("积分落户怎么申请？", "draft", 1)


def test_utf8_without_bom_imports_and_unknown_encoding_is_one_error(kb: str) -> None:
    data = export(kb)
    assert run_import(kb, data.removeprefix(b"\xef\xbb\xbf")).ok
    report = run_import(kb, b"id,topic\n" + bytes([0xFF, 0xFE, 0x81, 0x20, 0xFF]))
    assert report.errors == [(0, "文件编码无法识别，请使用 UTF-8 或 GBK")]


def test_stale_version_is_refused_and_nothing_overwritten(kb: str) -> None:
    rows = read_csv(export(kb))
    target = int(rows[1]["id"])
    with get_sessionmaker(kb)() as session, session.begin():  # a colleague edits after the export
        current = staff.get_entry(session, entry_id=target)
        mine = staff.FaqInput.from_mapping({**staff.entry_dict(current), "answer": "同事刚改的答复。"})
        staff.update_entry(
            session, entry_id=target, data=mine, expected_version=current.version, user=user(session, "rev")
        )
    rows[1]["answer"] = "基于旧版本的修改。"
    rows[2]["answer"] = "另一条正常的修改。"
    before = entries(kb)

    report = run_import(kb, write_csv(rows))
    assert [line for line, _ in report.errors] == [3]
    assert "导出后已被修改" in report.errors[0][1]
    assert entries(kb) == before
    assert before[target][3] == "同事刚改的答复。"
    # an untouched row of that entry (stale version, but equal to what is stored now) is simply unchanged
    assert run_import(kb, write_csv([*read_csv(export(kb))[:1], {**rows[1], "answer": "同事刚改的答复。"}])).ok


def test_version_and_id_problems(kb: str) -> None:
    rows = read_csv(export(kb))[:4]
    rows[0] = {**rows[0], "answer": "改了但没有版本号", "version": ""}
    rows[1] = {**rows[1], "id": "99999"}
    rows[2] = {**rows[2], "id": "abc"}
    rows[3] = {**rows[3], "id": rows[0]["id"], "answer": "重复的 id"}
    errors = dict(run_import(kb, write_csv(rows)).errors)
    assert "version" in errors[2] and "99999" in errors[3] and "整数" in errors[4] and "与第2行重复" in errors[5]


def test_roles_editor_cannot_publish_and_changes_to_live_answers_become_proposals(kb: str) -> None:
    rows = read_csv(export(kb))
    published = next(r for r in rows if r["status"] == "published")
    new_live = {
        "topic": "plan",
        "question": "直接发布？",
        "answer": "是的。",
        "source": "主要目标",
        "status": "published",
    }
    new_draft = {**new_live, "question": "草稿？", "status": ""}
    changed = {**published, "answer": "编辑改的已发布答复"}
    before = entries(kb)

    report = run_import(kb, write_csv([changed, new_live, new_draft]), as_user="ed")
    assert [line for line, _ in report.errors] == [3]
    assert all("审核员" in message for _, message in report.errors)
    assert entries(kb) == before

    report = run_import(kb, write_csv([changed, new_draft]), as_user="ed")
    assert (report.ok, report.proposed, report.created, report.updated) == (True, 1, 1, 0)
    assert [c["action"] for c in report.changes] == ["propose", "create"]
    after = entries(kb)
    assert after[int(changed["id"])] == before[int(changed["id"])]  # residents keep the published answer
    with get_sessionmaker(kb)() as session:
        proposal = session.scalar(select(FaqProposal).where(FaqProposal.faq_id == int(changed["id"])))
        assert (proposal.proposed_by, proposal.proposed["answer"], proposal.status) == (
            "ed",
            "编辑改的已发布答复",
            "open",
        )
    assert "faq.import" in audit_actions(kb) and "proposal.create" in audit_actions(kb)
    report = run_import(kb, write_csv([changed, new_live]), as_user="rev")
    assert (report.ok, report.updated, report.created) == (True, 1, 1)
    after = entries(kb)
    assert after[max(after)][5] == "published"


def test_every_row_is_checked_against_the_grounding_rule_with_its_line(kb: str) -> None:
    """Issue 13: an invented figure or a placeholder is refused as in the admin, row by row; nothing is written."""
    rows = read_csv(export(kb))
    nine = next(r for r in rows if r["source"] == "第9条")
    invented = {**nine, "answer": "加装电梯每台最高补贴20万元。"}
    placeholder = {"topic": "plan", "question": "新问题", "answer": "（待填写答复）", "source": "主要目标"}
    fine = {"topic": "plan", "question": "另一个新问题", "answer": "请咨询所在社区。", "source": "主要目标"}
    before = entries(kb)
    report = run_import(kb, write_csv([invented, placeholder, fine]))
    errors = dict(report.errors)
    assert sorted(errors) == [2, 3]
    assert "“20”" in errors[2] and "第9条" in errors[2]
    assert "占位文字" in errors[3]
    assert entries(kb) == before


def test_four_eyes_nobody_publishes_their_own_rows(kb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUR_EYES", "1")
    rows = read_csv(export(kb))
    published = next(r for r in rows if r["status"] == "published")
    new_live = {
        "topic": "plan",
        "question": "直接发布？",
        "answer": "请咨询社区。",
        "source": "主要目标",
        "status": "published",
    }
    report = run_import(kb, write_csv([new_live]), as_user="rev")
    assert "四眼原则" in report.errors[0][1]
    # a reviewer's change to a published entry is a proposal, like an editor's
    report = run_import(kb, write_csv([{**published, "answer": "审核员改的已发布答复"}]), as_user="rev")
    assert (report.ok, report.proposed, report.updated) == (True, 1, 0)
    # a draft imported by one reviewer is published by another
    draft = {**new_live, "status": "draft"}
    assert run_import(kb, write_csv([draft]), as_user="rev").created == 1
    new_id = max(entries(kb))
    again = next(r for r in read_csv(export(kb)) if r["id"] == str(new_id))
    own = run_import(kb, write_csv([{**again, "status": "published"}]), as_user="rev")
    assert "四眼原则" in own.errors[0][1]
    add_user(kb, "rev2", "reviewer")
    other = run_import(kb, write_csv([{**again, "status": "published"}]), as_user="rev2")
    assert other.ok and entries(kb)[new_id][5] == "published"


def test_status_column_publishes_and_unpublishes(kb: str) -> None:
    rows = read_csv(export(kb))[:1]
    rows[0]["status"] = "draft"
    assert run_import(kb, write_csv(rows)).updated == 1
    assert entries(kb)[int(rows[0]["id"])][5] == "draft"
    rows[0]["status"] = "later"
    assert "draft（草稿）或 published" in run_import(kb, write_csv(rows)).errors[0][1]


def test_formula_like_cells_are_escaped_for_excel_and_round_trip_exactly(kb: str) -> None:
    with get_sessionmaker(kb)() as session, session.begin():
        data = staff.FaqInput.from_mapping(
            {
                "topic": "plan",
                "question": '=HYPERLINK("http://x.example","点我")',
                "answer": "-5 度",
                "source": "主要目标",
            }
        )
        entry_id = staff.create_entry(session, data=data, user=user(session, "rev")).id
    row = next(r for r in read_csv(export(kb)) if int(r["id"]) == entry_id)
    assert row["question"].startswith("'=") and row["answer"] == "'-5 度"
    assert run_import(kb, export(kb)).updated == 0


def test_too_many_rows_is_refused(kb: str) -> None:
    new = {"topic": "plan", "question": "问题", "answer": "答复", "source": "主要目标"}
    report = run_import(kb, write_csv([new] * (transfer.MAX_ROWS + 1)))
    assert len(report.errors) == 1 and "5000" in report.errors[0][1]
    assert run_import(kb, write_csv([new] * 3), dry_run=True).created == 3


def test_a_failure_while_writing_rolls_back_the_rows_already_written(kb: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = read_csv(export(kb))[:3]
    for row in rows:
        row["answer"] += "（更新）"
    calls = []
    real_update = staff.update_entry

    def flaky_update(session, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["entry_id"])
        if len(calls) == 3:
            raise staff.StaffError("boom", "模拟的写入失败。")
        return real_update(session, **kwargs)

    monkeypatch.setattr(staff, "update_entry", flaky_update)
    before = entries(kb)
    new = {"topic": "plan", "question": "新问题？", "answer": "新答复。", "source": "主要目标"}
    report = run_import(kb, write_csv([new, *rows]))
    assert report.errors == [(5, "第5行：模拟的写入失败。")]
    assert report.changes[0]["action"] == "create" and report.changes[0]["id"] is None  # rolled back
    assert entries(kb) == before


# -- YAML -------------------------------------------------------------------------------


def test_yaml_round_trip_edit_and_create(kb: str) -> None:
    data = export(kb, "yaml")
    assert run_import(kb, data, fmt="yaml").unchanged == len(entries(kb))
    document = yaml.safe_load(data)
    document["entries"][0]["answer"] = "第一行\n第二行"
    document["entries"][0]["alternatives"].append("新问法")
    document["entries"].append(
        {"topic": "rental", "question": "蓝领公寓在哪里？", "answer": "见计划。", "source": "主要目标"}
    )
    edited = yaml.safe_dump(document, allow_unicode=True).encode()
    report = run_import(kb, edited, fmt="yaml")
    assert (report.ok, report.updated, report.created) == (True, 1, 1)
    assert run_import(kb, export(kb, "yaml"), fmt="yaml").unchanged == len(entries(kb))
    first = entries(kb)[document["entries"][0]["id"]]
    assert first[3] == "第一行\n第二行" and first[2][-1] == "新问法"


def test_yaml_errors_name_the_entry_number(kb: str) -> None:
    document = yaml.safe_load(export(kb, "yaml"))
    document["entries"][1]["topic"] = "weather"
    document["entries"][2] = "not a mapping"
    document["entries"][3]["id"] = -4
    report = run_import(kb, yaml.safe_dump(document, allow_unicode=True).encode(), fmt="yaml")
    assert [line for line, _ in report.errors] == [2, 3, 4]
    assert report.errors[0][1].startswith("第2条：") and report.errors[1][1].startswith("第3条：")
    assert "id 必须是正整数" in report.errors[2][1]
    assert run_import(kb, b"entries: [unclosed", fmt="yaml").errors[0][1].startswith("YAML 格式错误")


# -- PostgreSQL ---------------------------------------------------------------------------


def test_round_trip_and_all_or_nothing_on_postgresql(pg_url: str) -> None:
    build(url=pg_url)
    add_user(pg_url, "rev", "reviewer")
    before = entries(pg_url)
    assert run_import(pg_url, export(pg_url)).unchanged == len(before)
    rows = read_csv(export(pg_url))
    rows[0]["answer"] = "PostgreSQL 上的新答复。"
    rows[1]["source"] = "第999条"
    assert [line for line, _ in run_import(pg_url, write_csv(rows)).errors] == [3]
    assert entries(pg_url) == before
    rows[1]["source"] = read_csv(export(pg_url))[1]["source"]
    report = run_import(pg_url, write_csv(rows))
    assert (report.ok, report.updated) == (True, 1)
    assert entries(pg_url)[int(rows[0]["id"])][3] == "PostgreSQL 上的新答复。"
    assert run_import(pg_url, export(pg_url, "yaml"), fmt="yaml").unchanged == len(before)


# -- HTTP API -------------------------------------------------------------------------------


@pytest.fixture
async def client(kb: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("ADMIN_USERNAME", "chief")
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    async with TestClient(TestServer(init_app(kb))) as client:
        yield client


async def login(client: TestClient, username: str = "rev") -> dict[str, str]:
    response = await client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def test_api_requires_a_token(client: TestClient) -> None:
    for response in (
        await client.get("/api/v1/export?format=csv"),
        await client.post("/api/v1/import?format=csv", data=b"id\n"),
        await client.get("/api/v1/export", headers={"Authorization": "Bearer nope"}),
    ):
        assert response.status == 401
        assert (await response.json())["error"] in ("unauthorized", "invalid_token")


async def test_api_export_download(client: TestClient, kb: str) -> None:
    headers = await login(client)
    response = await client.get("/api/v1/export?format=csv", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="faq-export.csv"'
    data = await response.read()
    assert data.startswith(b"\xef\xbb\xbf") and len(read_csv(data)) == len(entries(kb))

    response = await client.get("/api/v1/export?format=yaml", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="faq-export.yaml"'
    assert len(yaml.safe_load(await response.read())["entries"]) == len(entries(kb))

    response = await client.get("/api/v1/export?format=xlsx", headers=headers)
    assert response.status == 422
    assert (await response.json())["error"] == "invalid_format"


async def test_api_import_dry_run_then_import(client: TestClient, kb: str) -> None:
    headers = await login(client)
    rows = read_csv(export(kb))
    rows[0]["answer"] = "通过接口导入的答复。"
    data = write_csv(rows)
    before = entries(kb)

    response = await client.post("/api/v1/import?format=csv&dry_run=1", data=data, headers=headers)
    assert response.status == 200
    report = await response.json()
    assert {k: report[k] for k in ("created", "updated", "errors", "dry_run", "ok")} == {
        "created": 0,
        "updated": 1,
        "errors": [],
        "dry_run": True,
        "ok": True,
    }
    assert report["unchanged"] == len(rows) - 1
    assert entries(kb) == before

    response = await client.post("/api/v1/import?format=csv", data=data, headers=headers)
    assert response.status == 200
    assert (await response.json())["updated"] == 1
    assert entries(kb)[int(rows[0]["id"])][3] == "通过接口导入的答复。"


async def test_api_import_failures_are_422(client: TestClient, kb: str) -> None:
    headers = await login(client)
    rows = read_csv(export(kb))[:3]
    rows[0]["topic"] = "weather"
    rows[2]["source"] = "第999条"
    data = write_csv(rows)
    before = entries(kb)

    response = await client.post("/api/v1/import?format=csv", data=data, headers=headers)
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "import_failed" and "没有导入任何内容" in body["message"]
    assert [e["line"] for e in body["errors"]] == [2, 4]
    assert body["ok"] is False
    assert entries(kb) == before

    response = await client.post("/api/v1/import?format=csv&dry_run=1", data=data, headers=headers)
    assert response.status == 200 and [e["line"] for e in (await response.json())["errors"]] == [2, 4]

    for query in ("format=xlsx", "", "format=csv&dry_run=maybe"):
        response = await client.post(f"/api/v1/import?{query}", data=data, headers=headers)
        assert response.status == 422
        assert (await response.json())["error"] in ("invalid_format", "invalid_dry_run")

    response = await client.post("/api/v1/import?format=csv", data=b"", headers=headers)
    assert response.status == 422 and (await response.json())["error"] == "empty_file"


async def test_api_editor_gets_row_errors_for_publishing(client: TestClient, kb: str) -> None:
    headers = await login(client, "ed")
    new = {"topic": "plan", "question": "直接发布？", "answer": "是的。", "source": "主要目标", "status": "published"}
    response = await client.post("/api/v1/import?format=csv", data=write_csv([new]), headers=headers)
    assert response.status == 422
    assert "审核员" in (await response.json())["errors"][0]["message"]


async def test_api_import_larger_than_the_app_body_limit(client: TestClient, kb: str) -> None:
    headers = await login(client)
    new = {"topic": "plan", "question": "问题", "answer": "长" * 3000, "source": "主要目标"}
    data = write_csv([new] * 150)
    assert len(data) > 1024 * 1024
    response = await client.post("/api/v1/import?format=csv&dry_run=1", data=io.BytesIO(data), headers=headers)
    assert response.status == 200 and (await response.json())["created"] == 150


async def test_api_import_over_its_own_limit_is_413(
    client: TestClient, kb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import transfer_api

    headers = await login(client)
    monkeypatch.setattr(transfer_api, "MAX_IMPORT_BYTES", 1000)
    response = await client.post("/api/v1/import?format=csv", data=b"x" * 2000, headers=headers)
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"
