"""bot/guard.py: what every resident message passes before Rasa sees it."""

import logging

import pytest

from bot.guard import EMPTY, MAX_CHARS, TOO_LONG, install_log_masking, screen

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


def test_only_our_own_button_payloads_pass_as_payloads():
    assert screen('/choose_faq{"faq_id":"12"}').text == '/choose_faq{"faq_id":"12"}'
    assert screen("/ask_rental").text == "/ask_rental"
    assert screen("/restart").text == "restart"
    assert screen('/out_of_scope{"district":"x"}').text == 'out_of_scope{"district":"x"}'
    assert screen("//session_start").text == "session_start"


def test_log_records_are_masked(caplog):
    install_log_masking()
    install_log_masking()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything").info("resident wrote %s and %s", ID_NUMBER, MOBILE)
    assert ID_NUMBER not in caplog.text and MOBILE not in caplog.text
    assert "[身份证号]" in caplog.text and "[手机号]" in caplog.text
