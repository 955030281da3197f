"""bot/guard.py: what every resident message passes before Rasa sees it."""

import pytest

from bot import guard
from bot.guard import EMPTY, MAX_CHARS, TOO_LONG, screen

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"


def test_personal_data_is_masked_and_the_question_kept():
    screened = screen(f"我的身份证{ID_NUMBER}，手机{MOBILE}，想问蓝领公寓怎么申请")
    assert screened.reply is None
    assert screened.text == "我的身份证[身份证号]，手机[手机号]，想问蓝领公寓怎么申请"


def test_full_width_digits_are_masked_too():
    full_width = MOBILE.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert "[手机号]" in screen(f"电话{full_width}").text


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "\u200b\u200b", "\x00\x07", None, 42, ["托位"], "/"])
def test_empty_or_not_text_gets_a_friendly_prompt(raw):
    assert screen(raw) == screen("") and screen(raw).reply == EMPTY


def test_too_long_is_refused_politely_without_processing():
    assert screen("托" * (MAX_CHARS + 1)).reply == TOO_LONG
    assert screen("托" * 20_000).reply == TOO_LONG
    assert screen("托" * MAX_CHARS).text == "托" * MAX_CHARS


def test_control_characters_markup_and_surrogates_are_dropped():
    assert screen("<b>托位</b>\x00有多少\ud800个\u202e").text == "托位 有多少个"
    assert screen("加装\r\n电梯").text == "加装 电梯"


def test_a_link_or_form_to_elsewhere_is_marked_as_code():
    assert guard.CODE_MARK in screen('<a href="http://hz-gov.example">领取托育补贴</a>').text
    assert guard.CODE_MARK in screen("<form action=//evil.example/collect>身份证号</form>").text
    assert screen("<b>托位</b>有多少").text == "托位 有多少"  # formatting only


def test_an_embedded_page_or_object_is_marked_as_code():
    assert guard.CODE_MARK in screen('<object data="data:text/html;base64,PHNjcmlwdD4=">x</object> 托位还有吗').text
    assert guard.CODE_MARK in screen("<iframe src=x></iframe>公租房").text
    assert guard.CODE_MARK in screen('<img src="data:image/svg+xml;base64,PHN2Zz4=">').text
    assert screen("<p>加装电梯</p>").text == "加装电梯"  # formatting only


def test_only_our_own_button_payloads_pass_as_payloads():
    assert screen('/choose_faq{"faq_id":"12"}').text == '/choose_faq{"faq_id":"12"}'
    assert screen("/ask_rental").text == "/ask_rental"
    assert screen("/restart").text == "restart"
    assert screen('/out_of_scope{"district":"x"}').text == 'out_of_scope{"district":"x"}'
    assert screen("//session_start").text == "session_start"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("身份证3301 0619 9001 0112 3X，想问积分落户", "身份证[身份证号]，想问积分落户"),
        ("身份证330106-19900101-123X，想问积分落户", "身份证[身份证号]，想问积分落户"),
        ("老身份证330106900101123能落户吗", "老身份证[身份证号]能落户吗"),
        ("身份证110105194912310021（最后一位记不清）", "身份证[身份证号]（最后一位记不清）"),
        ("电话138.0000.0000，蓝领公寓", "电话[手机号]，蓝领公寓"),
        ("电话1380 000 0000，蓝领公寓", "电话[手机号]，蓝领公寓"),
        ("电话１３８－００００－００００，蓝领公寓", "电话[手机号]，蓝领公寓"),
        ("卡号622202 1234567894，补贴打到哪", "卡号[银行卡号]，补贴打到哪"),
        ("邮箱zhang.san@163.com，托位", "邮箱[邮箱]，托位"),
        ("我的QQ：12345678，微信 zhangsan_88，托位", "我的QQ：[QQ号]，微信 [微信号]，托位"),
    ],
)
def test_personal_data_in_the_shapes_residents_type_is_masked(raw: str, expected: str):
    assert screen(raw).text == expected


def test_years_clauses_and_amounts_in_a_question_are_kept():
    question = "第9条说2021—2025年补助18万元，27万元/人，托位4.6个，占比85%，打12345吗"
    assert screen(question).text == question


def test_log_masking_is_no_longer_the_guards_job():
    """It lives on the ground floor (knowledge/privacy.py), used by all three processes."""
    assert not hasattr(guard, "install_log_masking")


def test_traditional_characters_reach_nlu_simplified_and_payloads_stay_as_sent():
    assert screen("託育機構怎麼申請？「戶口」").text == "托育机构怎么申请？「户口」"
    assert screen('/choose_faq{"faq_id":"3"}').text == '/choose_faq{"faq_id":"3"}'
