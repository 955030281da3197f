"""knowledge/privacy.py: personal data in the shapes residents type is masked, the plan's numbers are not.

Table tests for every example of issue 12, the false-positive check on the whole knowledge base
(both source documents and every FAQ entry), and the keyed sender ids. Generated cases in both
directions are in tests/test_privacy_properties.py; logs in tests/test_log_masking.py.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from knowledge import privacy
from knowledge.privacy import has_id_shape, is_valid_id_number, mask_personal_data, pseudonymous_sender
from knowledge.settings import FAQ_DIR, PROJECT_ROOT, SOURCES_DIR


def test_id_numbers_are_checked_by_their_checksum():
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")  # wrong check digit


def test_id_shape_is_region_and_birth_date():
    assert has_id_shape("110105194912310021")  # wrong check digit, still a resident's number
    assert has_id_shape("330106900101123")  # first generation: 1990-01-01
    assert not has_id_shape("990105194912310021")  # no province 99
    assert not has_id_shape("110105194913310021")  # month 13
    assert not has_id_shape("110105194902300021")  # 30 February
    assert not has_id_shape("330106901301123")  # month 13


def test_personal_data_is_masked_and_the_rest_kept():
    text = "身份证11010519491231002X，电话139-1234-5678，卡号6222 0212 3456 7890 128，问托位"
    masked = mask_personal_data(text)
    assert masked == "身份证[身份证号]，电话[手机号]，卡号[银行卡号]，问托位"


# a Luhn-valid 16-digit card (checked below) for the groupings
CARD16 = "6222021234567894"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # ID numbers spaced or dashed in groups
        ("身份证3301 0619 9001 0112 3X问一下", "身份证[身份证号]问一下"),
        ("身份证330106-19900101-123X问一下", "身份证[身份证号]问一下"),
        ("身份证330106 19900101 123x", "身份证[身份证号]"),
        ("身份证３３０１０６１９９００１０１１２３Ｘ", "身份证[身份证号]"),
        # 15-digit first-generation IDs
        ("老身份证330106900101123还能用吗", "老身份证[身份证号]还能用吗"),
        ("老身份证330106 900101 123", "老身份证[身份证号]"),
        # 18 digits with a wrong check digit, valid region and birth date
        ("我的身份证110105194912310021", "我的身份证[身份证号]"),
        ("我的身份证330106199001011234", "我的身份证[身份证号]"),
        # mobiles with dots, full-width dashes, em/en dashes, underscores, spaces, odd groupings
        ("电话138.0000.0000", "电话[手机号]"),
        ("电话1380 000 0000", "电话[手机号]"),
        ("电话138－0000－0000", "电话[手机号]"),
        ("电话138—0000—0000", "电话[手机号]"),
        ("电话138–0000–0000", "电话[手机号]"),
        ("电话138_0000_0000", "电话[手机号]"),
        ("电话138 - 0000 - 0000", "电话[手机号]"),
        ("电话1380000 0000", "电话[手机号]"),
        ("电话１３８００００００００", "电话[手机号]"),
        ("电话１３８－００００－００００", "电话[手机号]"),
        ("电话１３８．００００．００００", "电话[手机号]"),
        ("电话+86 138 0000 0000", "电话[手机号]"),
        ("电话0086-13800000000", "电话[手机号]"),
        ("电话13800000000，QQ同号", "电话[手机号]，QQ同号"),
        # bank cards grouped 6+10 and other common groupings
        (f"卡号{CARD16[:6]} {CARD16[6:]}", "卡号[银行卡号]"),
        (f"卡号{CARD16[:6]}-{CARD16[6:]}", "卡号[银行卡号]"),
        (f"卡号{CARD16[:4]} {CARD16[4:8]} {CARD16[8:12]} {CARD16[12:]}", "卡号[银行卡号]"),
        (f"卡号{CARD16}", "卡号[银行卡号]"),
        ("卡号6222 0212 3456 7890 128", "卡号[银行卡号]"),
        # e-mail addresses
        ("邮箱zhang.san@163.com，谢谢", "邮箱[邮箱]，谢谢"),
        ("发到 12345678@qq.com 就行", "发到 [邮箱] 就行"),
        ("邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ", "邮箱[邮箱]"),
        # QQ numbers and WeChat ids after their keyword
        ("我的QQ12345678", "我的QQ[QQ号]"),
        ("qq：123456789", "qq：[QQ号]"),
        ("QQ号: 10001", "QQ号: [QQ号]"),
        ("扣扣 87654321", "扣扣 [QQ号]"),
        ("微信zhangsan_88", "微信[微信号]"),
        ("微信号：zhang-san88", "微信号：[微信号]"),
        ("加我VX abc12345", "加我VX [微信号]"),
        ("vx:Li_Si2024", "vx:[微信号]"),
        ("wx 123456789", "wx [微信号]"),
        ("微信138 0000 0000", "微信[手机号]"),
        ("微信wxid_k2j3h4g5f6", "微信[微信号]"),
    ],
)
def test_every_shape_from_the_issue_is_masked(typed: str, expected: str):
    assert mask_personal_data(typed) == expected


def test_the_card_in_the_table_is_luhn_valid():
    assert privacy._luhn_ok(CARD16) and not privacy._luhn_ok(CARD16[:-1] + "5")


@pytest.mark.parametrize(
    "text",
    [
        # month 13 and a wrong check digit: no ID
        "到2025年每千人口托位4.6个，人均预期寿命83.88岁，编号110105194913310022",
        "依据第9条、第12条第3款，2021—2025年、2021-2025年、2021–2025年",
        "补助18万元，27万元/人，筹建1.2万套，新增3000套，投资120亿元，占比85%，增长12.5％",
        "2025年3月1日、2025-03-01、2025.3.1、2025/03/01、2022年底、2035年远景",
        "拨打12345政务服务便民热线，或110、119、120",
        "110 119 120 12345",
        "13800000000元的预算",  # an amount, not a phone
        "￥13800000000",
        "10—50岁、20—60平方米、74700户、18109个、42692人",
        "版本3.6.21，地址127.0.0.1:5005，IP 139.224.15.100",
        "2026-11-30 00:12:53,123 INFO rasa.core - started",
        "关注微信公众号，或在QQ群里咨询；wx config loaded",
        "卡号6222021234567895",  # Luhn fails
    ],
)
def test_ordinary_numbers_are_not_masked(text: str):
    assert mask_personal_data(text) == text


def test_numbers_next_to_personal_data_survive():
    assert mask_personal_data("2025年电话138 0000 0000 第9条") == "2025年电话[手机号] 第9条"
    assert mask_personal_data("13800000000 13900000000") == "[手机号] [手机号]"
    assert mask_personal_data("2025-03-01 13800000000") == "2025-03-01 [手机号]"


def _strings(node: object):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_masking_the_whole_knowledge_base_changes_nothing():
    """Both source documents and every string of every FAQ file (questions, alternatives,
    answers, sources): full of years, clause numbers, amounts and percentages, no personal data."""
    sources = sorted(SOURCES_DIR.glob("*.txt"))
    faq_files = sorted(FAQ_DIR.glob("*.yml"))
    assert len(sources) == 2 and faq_files
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert len(re.findall(r"\d+", text)) > 50  # the test reads real documents full of numbers
        assert mask_personal_data(text) == text, path.name
    strings = [s for path in faq_files for s in _strings(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert len(strings) > 500
    changed = [s for s in strings if mask_personal_data(s) != s]
    assert changed == []


def test_masking_is_idempotent_and_keeps_placeholders():
    once = mask_personal_data("身份证3301 0619 9001 0112 3X，QQ 12345678，邮箱a.b@x.cn")
    assert mask_personal_data(once) == once == "身份证[身份证号]，QQ [QQ号]，邮箱[邮箱]"


def test_a_long_list_of_numbers_is_masked_quickly():
    import time

    text = " ".join(str(n) for n in range(20_000))
    started = time.perf_counter()
    mask_personal_data(text)
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------- sender ids


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "sender-hash.key"
    monkeypatch.delenv("SENDER_HASH_KEY", raising=False)
    monkeypatch.setattr(privacy, "SENDER_KEY_FILE", path)
    monkeypatch.setattr(privacy, "_file_key", None)
    return path


@pytest.mark.parametrize("sender", ["web-0123456789abcdef0123456789abcdef", "resident-1a2b3c", "alice", "user:42"])
def test_sender_ids_without_personal_data_are_kept(sender: str, key_file: Path):
    assert pseudonymous_sender(sender) == sender
    assert not key_file.exists()  # no key needed, none made


@pytest.mark.parametrize(
    "sender", ["11010519491231002X", "330106-19900101-123X", "13800000000", "138.0000.0000", "zhang.san@163.com"]
)
def test_sender_ids_with_personal_data_become_a_keyed_hash(sender: str, key_file: Path):
    hashed = pseudonymous_sender(sender)
    assert re.fullmatch(r"anon-[0-9a-f]{32}", hashed)
    assert pseudonymous_sender(sender) == hashed  # the same resident keeps one conversation
    assert sender not in hashed
    # The hash is hex: three digits ("163" of an e-mail address) turn up in one hash of ~130 by chance
    # (a flaky failure in a full run, 2026-11-30), six of an ID or phone number in one of ~600,000.
    digits = re.sub(r"\D", "", sender)
    if len(digits) >= 6:
        assert digits[:6] not in hashed
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_environment_key_wins_and_changes_the_hash(key_file: Path, monkeypatch: pytest.MonkeyPatch):
    from_file = pseudonymous_sender("13800000000")
    monkeypatch.setenv("SENDER_HASH_KEY", "a-long-shared-secret-for-every-replica")
    from_env = pseudonymous_sender("13800000000")
    monkeypatch.setenv("SENDER_HASH_KEY", "another-long-shared-secret-for-replicas")
    assert from_env != from_file and pseudonymous_sender("13800000000") not in (from_env, from_file)


def test_the_key_file_survives_a_restart(key_file: Path, monkeypatch: pytest.MonkeyPatch):
    first = pseudonymous_sender("13800000000")
    monkeypatch.setattr(privacy, "_file_key", None)  # as after a restart
    assert pseudonymous_sender("13800000000") == first


def test_processes_starting_together_agree_on_one_key(tmp_path: Path):
    path = tmp_path / "var" / "sender-hash.key"
    code = (
        "import sys; from pathlib import Path; from knowledge import privacy;"
        "print(privacy._key_from_file(Path(sys.argv[1])).decode())"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in processes}
    assert len(keys) == 1 and keys == {path.read_text().strip()}
    assert [p.name for p in path.parent.iterdir()] == ["sender-hash.key"]  # no temporary files left


def test_an_unwritable_key_location_still_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.delenv("SENDER_HASH_KEY", raising=False)
    monkeypatch.setattr(privacy, "SENDER_KEY_FILE", blocker / "sender-hash.key")
    monkeypatch.setattr(privacy, "_file_key", None)
    hashed = pseudonymous_sender("13800000000")
    assert hashed.startswith("anon-") and pseudonymous_sender("13800000000") == hashed
    assert "SENDER_HASH_KEY" in caplog.text
