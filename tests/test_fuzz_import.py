"""Property-based fuzzing of the FAQ import (knowledge/transfer.py and POST /api/v1/import).

Whatever the file holds (any bytes and encoding, BOMs, NULs, formula prefixes, huge cells, broken
quoting, YAML tags such as ``!!python/object``, anchors and aliases "billion laughs", mutated
exports), an import gives a report, never an exception; every problem is a short Chinese message;
and when the file is refused (or on a dry run) the database reads back exactly as before, every
row of every table. One real SQLite knowledge base per test function is reused across examples:
each example compares the database with its own state just before it. Budgets: tests/fuzz_settings.py.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from knowledge import staff, transfer
from knowledge.db import get_engine, get_sessionmaker
from knowledge.models import Base, StaffUser
from tests.fuzz_settings import examples
from web.app import init_app

PASSWORD = "Fuzz-Import-2025!x"
REVIEWER = "fuzz-rev"
CHINESE = re.compile("[\u4e00-\u9fff]")
MAX_MESSAGE_CHARS = 2000


def reuse_kb(budget: int) -> settings:
    """Settings for a test whose one knowledge base (a function-scoped fixture) serves every example."""
    return settings(
        max_examples=examples(budget),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- the database, read back ----------------------------------------------------------


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    with get_engine(url).connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
        }


def faq_rows(snapshot: dict[str, list[tuple[Any, ...]]]) -> tuple[list[tuple[Any, ...]], ...]:
    return snapshot["faq_entries"], snapshot["faq_revisions"]


@pytest.fixture
def kb(fresh_kb_url: str) -> str:
    with get_sessionmaker(fresh_kb_url)() as session, session.begin():
        staff.create_user(session, username=REVIEWER, password=PASSWORD, role="reviewer", actor="test")
    return fresh_kb_url


def run_import(url: str, data: bytes, fmt: str, dry_run: bool) -> transfer.ImportReport:
    """As the API does it: one transaction, committed after the import returns."""
    with get_sessionmaker(url)() as session, session.begin():
        user = session.scalar(select(StaffUser).where(StaffUser.username == REVIEWER))
        return transfer.import_entries(session, data=data, fmt=fmt, user=user, dry_run=dry_run)


def assert_clean_messages(errors: list[tuple[int, str]] | list[dict[str, Any]]) -> None:
    for error in errors:
        line, message = (error["line"], error["message"]) if isinstance(error, dict) else error
        assert isinstance(line, int) and line >= 0
        assert CHINESE.search(message), message
        assert len(message) <= MAX_MESSAGE_CHARS, message[:200]


def check_import(url: str, data: bytes, fmt: str, dry_run: bool) -> transfer.ImportReport:
    """The import's report is clean, and a refused import or a dry run changes nothing at all."""
    before = tables(url)
    report = run_import(url, data, fmt, dry_run)
    assert report.dry_run is dry_run
    assert_clean_messages(report.errors)
    after = tables(url)
    if report.errors or dry_run:
        assert after == before
    elif report.created + report.updated == 0:
        assert faq_rows(after) == faq_rows(before)  # only the audit log records the import
    else:
        assert len(after["faq_entries"]) == len(before["faq_entries"]) + report.created
        assert after["audit_events"][-1][3] == "faq.import"
    return report


# -- what a file can hold -----------------------------------------------------------

BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]
ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "gb18030", "big5", "utf-16", "utf-16-be", "latin-1", "shift_jis"]
encoded_text = st.builds(
    lambda bom, text, encoding: bom + text.encode(encoding, "replace"),
    st.sampled_from(BOMS),
    st.text(max_size=400),
    st.sampled_from(ENCODINGS),
)
any_file = st.one_of(st.binary(max_size=2000), encoded_text)

TRICKY_CELLS = [
    "elevator",
    "childcare",
    "hukou",
    "rental",
    "plan",
    "Elevator",
    "第9条",
    "主要目标",
    "2022报告·民生保障",
    "第99条",
    "draft",
    "published",
    "PUBLISHED",
    "1",
    "2",
    "0",
    "-1",
    "1.5",
    "99999999999999999999999",
    "=1+1",
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    '\'=HYPERLINK("http://x")',
    "\t=1",
    "\r=1",
    "\0",
    '"',
    '""',
    'a"b',
    "a,b",
    "\r\n",
    "\n",
    " | ",
    "加装电梯怎么申请？",
    "\ufeff",
    "\u202e",
]
long_cells = st.sampled_from([("1", 5000), ("托位", 2100)]).map(lambda c: c[0] * c[1])  # over int() and answer limits
cell = st.one_of(st.sampled_from(TRICKY_CELLS), st.text(max_size=40), long_cells)
HEADER_NAMES = [*transfer.COLUMNS, "", "ID", " Topic ", "\ufefftopic", "extra", "question"]


def render_csv(header: list[str], rows: list[list[str]], style: str) -> str:
    if style == "naive":  # no quoting at all: commas, quotes and line breaks inside cells break the rows
        return "\r\n".join(",".join(r) for r in [header, *rows])
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if style == "tabs" else ",", escapechar="\\")
    writer.writerows([header, *rows])
    return out.getvalue()


csv_files = st.builds(
    lambda header, rows, style, encoding: render_csv(header, rows, style).encode(encoding, "replace"),
    st.one_of(st.just(list(transfer.COLUMNS)), st.lists(st.sampled_from(HEADER_NAMES), max_size=11)),
    st.lists(st.lists(cell, max_size=11), max_size=6),
    st.sampled_from(["csv", "naive", "tabs"]),
    st.sampled_from(["utf-8-sig", "utf-8", "gbk", "utf-16"]),
)

yaml_scalars = st.one_of(
    cell, st.integers(), st.floats(), st.booleans(), st.none(), st.dates(), st.binary(max_size=8), st.just(10**30)
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
yaml_entries = st.lists(
    st.one_of(st.dictionaries(st.sampled_from([*transfer.COLUMNS, "extra"]), yaml_values, max_size=10), yaml_values),
    max_size=5,
)
yaml_files = st.builds(
    lambda entries, wrap: yaml.safe_dump({"entries": entries} if wrap else entries, allow_unicode=True).encode(),
    yaml_entries,
    st.booleans(),
)
YAML_TAGS = [
    "",
    "!!python/object/apply:os.system",
    "!!python/object:__main__.X",
    "!!python/name:os.system",
    "!!timestamp",
    "!!int",
    "!!float",
    "!!bool",
    "!!binary",
    "!!set",
    "!!omap",
    "!!str",
    "!!null",
    "!custom",
    "&anchor",
    "*anchor",
    "<<:",
]
YAML_VALUES = [
    "x",
    "2024-13-45",
    "2024-02-30 99:99:99",
    "0x_",
    "0o9",
    "1:2:x",
    "1",
    "1e999",
    "[1, 2]",
    "{a: 1}",
    "'q'",
    "",
]
yaml_tagged = st.lists(
    st.tuples(st.sampled_from([*transfer.COLUMNS, "extra"]), st.sampled_from(YAML_TAGS), st.sampled_from(YAML_VALUES)),
    max_size=8,
).map(lambda fields: ("entries:\n  - {" + ", ".join(f"{k}: {t} {v}" for k, t, v in fields) + "}\n").encode())


def billion_laughs(use: str) -> bytes:
    """Nine levels of nine aliases: 9**9 (387 million) strings if anything expands the last one."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        name, below = chr(97 + level), chr(96 + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{below}'] * 9)}]")
    return ("\n".join(lines) + "\n" + use + "\n").encode()


LAUGH_ENTRY = "entries:\n  - {topic: elevator, question: 问, answer: 答, source: 第9条, "
BILLION_LAUGHS_FILES = [
    billion_laughs(LAUGH_ENTRY + "id: *i}"),
    billion_laughs(LAUGH_ENTRY + "version: *i, id: 1}"),
    billion_laughs(LAUGH_ENTRY + "status: *i}"),
    billion_laughs(LAUGH_ENTRY + "key: *i, id: 1, version: 1}"),
    billion_laughs("entries:\n  - {topic: *i, question: *i, answer: *i, source: *i, alternatives: *i}"),
    billion_laughs("entries: *i"),
]


# -- the import function ------------------------------------------------------------


@reuse_kb(50)
@given(data=any_file, fmt=st.sampled_from(transfer.FORMATS), dry_run=st.booleans())
@example(data=b"", fmt="csv", dry_run=False)
@example(data=b"\xef\xbb\xbf", fmt="yaml", dry_run=False)
@example(data="topic,question,answer,source\r\n".encode("utf-16"), fmt="csv", dry_run=False)  # Excel "Unicode text"
@example(data=b"topic,question,answer,source\nelevator,\0,a,b\n", fmt="csv", dry_run=False)
@example(data=b"\0" * 100, fmt="yaml", dry_run=False)
def test_any_bytes_give_a_report_and_a_refusal_changes_nothing(kb, data, fmt, dry_run):
    check_import(kb, data, fmt, dry_run)


HUGE_CELL = ('topic,question,answer,source\r\nelevator,问,"' + "长" * 200_000 + '",第9条\r\n').encode()


@reuse_kb(50)
@given(data=csv_files, dry_run=st.booleans())
@example(data=HUGE_CELL, dry_run=False)
@example(data=b'topic,question,answer,source\r\nelevator,"unclosed,a,\xe7\xac\xac9\xe6\x9d\xa1\r\n', dry_run=False)
@example(data=b"topic,question,answer,source,id\r\nelevator,q,a,x," + b"9" * 5000 + b"\r\n", dry_run=False)
@example(
    data=("id,version,topic,question,answer,source\r\n1,1,=cmd|' /C calc'!A0,q,a,第9条\r\n").encode(), dry_run=False
)
def test_csv_files_of_every_shape_give_a_report_and_a_refusal_changes_nothing(kb, data, dry_run):
    check_import(kb, data, "csv", dry_run)


@reuse_kb(50)
@given(data=st.one_of(yaml_files, yaml_tagged), dry_run=st.booleans())
@example(data=BILLION_LAUGHS_FILES[0], dry_run=False)
@example(data=BILLION_LAUGHS_FILES[1], dry_run=False)
@example(data=BILLION_LAUGHS_FILES[2], dry_run=False)
@example(data=BILLION_LAUGHS_FILES[3], dry_run=False)
@example(data=BILLION_LAUGHS_FILES[4], dry_run=False)
@example(data=BILLION_LAUGHS_FILES[5], dry_run=False)
@example(data=b"[" * 1100 + b"]" * 1100, dry_run=False)  # PyYAML recurses: RecursionError
@example(data=b"entries:\n  - {id: 2024-13-45}\n", dry_run=False)  # a date that does not exist: ValueError
@example(data=b"entries:\n  - {id: 0x_}\n", dry_run=False)  # PyYAML's int(): ValueError
@example(data=b"entries:\n  - {status: !!bool x}\n", dry_run=False)  # KeyError
@example(data=b"entries:\n  - {id: !!int }\n", dry_run=False)  # IndexError (found by the long profile)
@example(data=b"entries:\n  - {question: !!timestamp x}\n", dry_run=False)  # AttributeError
@example(data=b'entries:\n  - !!python/object/apply:os.system ["touch /tmp/pwned"]\n', dry_run=False)
@example(data=b"entries:\n  - {id: " + b"1" * 5000 + b"}\n", dry_run=False)  # more digits than int() reads
@example(data=b"entries:\n  - {id: 100000000000000000000000000000, version: 1}\n", dry_run=False)
@example(data=b"entries:\n  - &e {topic: plan}\n  - *e\n  - {<<: *e, question: q}\n", dry_run=False)
def test_yaml_files_tags_and_aliases_give_a_report_and_a_refusal_changes_nothing(kb, data, dry_run):
    check_import(kb, data, "yaml", dry_run)


def export(url: str, fmt: str) -> bytes:
    with get_sessionmaker(url)() as session:
        return transfer.export_entries(session, fmt=fmt)


MUTATION_FRAGMENTS = [
    b'"',
    b",",
    b"\r\n",
    b"\n",
    b"\0",
    b"\xff",
    b"'",
    b"=",
    b"&a ",
    b"*a",
    b"!!python/name:os.system ",
    b"- ",
]
mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "delete", "insert", "truncate"]),
        st.integers(0, 10**7),
        st.integers(1, 255),
        st.sampled_from(MUTATION_FRAGMENTS),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, steps: list[tuple[str, int, int, bytes]]) -> bytes:
    for kind, where, value, fragment in steps:
        i = where % (len(data) + 1)
        if kind == "flip" and i < len(data):
            data = data[:i] + bytes([data[i] ^ value]) + data[i + 1 :]
        elif kind == "delete":
            data = data[:i] + data[i + value :]
        elif kind == "insert":
            data = data[:i] + fragment + data[i:]
        else:
            data = data[:i]
    return data


class Exports(dict):
    def __repr__(self) -> str:  # Hypothesis prints the arguments of a failing example: not 500 kB of export
        return f"<exports of {len(self)} formats>"


@pytest.fixture
def exports(kb: str) -> Exports:
    """The knowledge base as exported before the test (a damaged copy of an older export is a fine input too)."""
    return Exports({fmt: export(kb, fmt) for fmt in transfer.FORMATS})


@reuse_kb(16)
@given(fmt=st.sampled_from(transfer.FORMATS), steps=mutations, dry_run=st.booleans())
def test_a_damaged_export_is_imported_whole_or_not_at_all(kb, exports, fmt, steps, dry_run):
    """An export edited by accident: most rows are still fine, so any bad row must undo the good ones."""
    check_import(kb, mutate(exports[fmt], steps), fmt, dry_run)  # a file cut to nothing imports nothing: fine


# -- over HTTP ----------------------------------------------------------------------


@pytest.fixture
async def client(kb: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("ADMIN_USERNAME", "fuzz-chief")
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    async with TestClient(TestServer(init_app(kb))) as test_client:
        yield test_client


@pytest.fixture
async def token(client: TestClient) -> str:
    """One login per test function (logins are rate-limited and Argon2 is slow on purpose)."""
    login = await client.post("/api/v1/login", json={"username": REVIEWER, "password": PASSWORD})
    assert login.status == 200
    return (await login.json())["token"]


@reuse_kb(30)
@given(
    data=st.one_of(any_file, csv_files, yaml_files, yaml_tagged),
    fmt=st.one_of(
        st.sampled_from(["csv", "yaml", "CSV", " yaml ", "xml", "", "csv\0"]), st.text(max_size=8), st.none()
    ),
    dry_run=st.one_of(st.sampled_from(["1", "0", "true", "false", "yes", "maybe", ""]), st.text(max_size=5), st.none()),
    content_type=st.sampled_from(["text/csv", "application/x-yaml", "application/json", "multipart/form-data", None]),
)
@example(data=BILLION_LAUGHS_FILES[0], fmt="yaml", dry_run="0", content_type="application/x-yaml")
@example(data=b" \r\n\t", fmt="csv", dry_run="1", content_type="text/csv")
async def test_the_http_import_answers_in_chinese_and_never_500(kb, client, token, data, fmt, dry_run, content_type):
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    params = {k: v for k, v in (("format", fmt), ("dry_run", dry_run)) if v is not None}
    before = tables(kb)
    reply = await client.post("/api/v1/import", params=params, data=data, headers=headers)
    assert reply.status in (200, 413, 422), reply.status
    body = await reply.json()
    if reply.status != 200:
        assert body["error"] and CHINESE.search(body["message"]), body
        assert_clean_messages(body.get("errors", []))
    if reply.status != 200 or body["dry_run"]:
        assert tables(kb) == before
    else:
        assert body["ok"] and not body["errors"]
