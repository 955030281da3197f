"""Property tests for knowledge/privacy.py, in both directions.

- Personal data in every shape residents type (ID numbers 18/15-digit, right or wrong check digit,
  grouped or not; mobiles with any separator, +86, full-width; Luhn-valid cards in their usual
  groupings; e-mails; QQ and WeChat ids after their keyword), one or several in a random Chinese
  sentence: always masked, none of its digits survive, the sentence around it is kept.
- Clause numbers, years and year ranges, amounts, percentages, dates and hotlines in random Chinese
  sentences: never changed.

The sentences are Chinese characters, Chinese punctuation and spaces. They leave out 元/万/亿/块
and %: a number followed by an amount unit is an amount by design (tests/test_privacy.py has the
table). Budgets: tests/fuzz_settings.py (derandomised in CI; HYPOTHESIS_PROFILE=long for more).
"""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import privacy
from knowledge.privacy import mask_personal_data
from tests.fuzz_settings import examples

FULL_WIDTH = str.maketrans("0123456789Xx-.@:", "０１２３４５６７８９Ｘｘ－．＠：")
TO_ASCII = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
SEPARATORS = [" ", "-", "－", "—", "–", ".", "．", "_", "  ", " - ", "\u3000"]
PROVINCES = sorted(privacy._PROVINCES)

WORDS = (
    "我想问一下加装电梯怎么申请托育补贴积分落户公租房蓝领公寓人才住房共有产权房小区社区街道办理材料"
    "谢谢您好请帮忙查看联系我的电话号码身份证卡号邮箱是多少能不能今天明天孩子老人家里"
)
PUNCTUATION = "，。？！、；：“”（）《》 "
context = st.text(alphabet=st.sampled_from(WORDS + PUNCTUATION), max_size=12)
gap = st.text(alphabet=st.sampled_from(WORDS + PUNCTUATION), min_size=1, max_size=8).filter(lambda s: s.strip())


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def split(value: str, sizes: list[int], separator: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(value[at : at + size])
        at += size
    parts.append(value[at:])
    return separator.join(p for p in parts if p)


@st.composite
def id18(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date.today()))
    body = draw(st.sampled_from(PROVINCES)) + draw(digits(4)) + born.strftime("%Y%m%d") + draw(digits(3))
    check = privacy._ID_CHECK[sum(int(d) * w for d, w in zip(body, privacy._ID_WEIGHTS, strict=True)) % 11]
    if draw(st.booleans()):  # residents mistype: a wrong check digit is still their number
        check = draw(st.sampled_from("0123456789X"))
    if check == "X" and draw(st.booleans()):
        check = "x"
    grouping = draw(st.sampled_from([[], [6, 8], [4, 4, 4, 4], [6, 4, 4], [6, 4, 4, 4]]))
    return split(body + check, grouping, draw(st.sampled_from(SEPARATORS)))


@st.composite
def id15(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    value = draw(st.sampled_from(PROVINCES)) + draw(digits(4)) + born.strftime("%y%m%d") + draw(digits(3))
    grouping = draw(st.sampled_from([[], [6, 6], [4, 4, 4]]))
    return split(value, grouping, draw(st.sampled_from(SEPARATORS)))


@st.composite
def mobile(draw: st.DrawFn) -> str:
    value = "1" + draw(st.sampled_from("3456789")) + draw(digits(9))
    sizes = draw(st.sampled_from([[], [3, 4], [4, 3], [4, 4], [3, 8], [7], [3, 3]]))
    parts, at = [], 0
    for size in [*sizes, 11]:
        parts.append(value[at : at + size])
        at += size
    parts = [p for p in parts if p]
    text = parts[0]
    for part in parts[1:]:  # residents mix separators within one number
        text += draw(st.sampled_from(SEPARATORS)) + part
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86-", "0086 ", "+86-"]))
    return prefix + text


@st.composite
def card(draw: st.DrawFn) -> str:
    length = draw(st.integers(16, 19))
    body = draw(st.sampled_from(["62", "4", "5", "9", "35"]))
    body += draw(digits(length - 1 - len(body)))
    check = next(d for d in "0123456789" if privacy._luhn_ok(body + d))
    grouping = draw(st.sampled_from([[], [6], [4, 4, 4, 4], [4, 4, 4], [6, 6]]))
    return split(body + check, grouping, draw(st.sampled_from([" ", "-", "－", "  ", "—"])))


email = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,14}[a-z0-9]", fullmatch=True),
    st.sampled_from(["qq.com", "163.com", "126.com", "gmail.com", "hz.gov.cn", "mail.example.org", "sina.cn"]),
)
qq = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["QQ", "qq", "Qq", "扣扣"]),
        st.sampled_from(["", "号", "：", ":", " ", "号：", "号码 ", "号是"]),
        st.from_regex(r"[1-9][0-9]{4,10}", fullmatch=True),
    ),
)
wechat = st.one_of(
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["微信", "VX", "vx", "wx", "WX"]),
            st.sampled_from(["：", ":", " ", "号：", "是", "号是", "号 ", ""]),
            st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{4,18}[0-9]", fullmatch=True),
        ),
    ),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["微信", "微信号", "微信：", "vx:", "wx号"]),
            st.from_regex(r"[a-zA-Z][a-zA-Z_-]{5,19}", fullmatch=True),
        ),
    ),
    st.from_regex(r"wxid_[a-z0-9]{6,14}", fullmatch=True),
)


def maybe_full_width(item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(item, st.booleans()).map(lambda pair: pair[0].translate(FULL_WIDTH) if pair[1] else pair[0])


personal = st.one_of(
    maybe_full_width(id18()),
    maybe_full_width(id15()),
    maybe_full_width(mobile()),
    maybe_full_width(card()),
    maybe_full_width(email),
    qq,
    wechat,
)


def secrets_of(item: str) -> list[str]:
    """What must not survive: the item's digits (any 4 in a row), or its id for e-mail/WeChat."""
    ascii_item = item.translate(TO_ASCII)
    found = re.findall(r"[0-9]{4,}", re.sub(r"[^0-9A-Za-z@]", "", ascii_item))
    found += re.findall(r"[A-Za-z][A-Za-z0-9_-]{5,}", ascii_item)
    return found


@settings(max_examples=examples(400))
@given(pieces=st.lists(st.tuples(personal, gap), min_size=1, max_size=4), before=context)
def test_personal_data_in_any_shape_is_always_masked(pieces: list[tuple[str, str]], before: str):
    text = before + "".join(item + after for item, after in pieces)
    masked = mask_personal_data(text)
    assert not re.search(r"[0-9０-９]", masked), masked  # the sentences hold no other digits
    flat = re.sub(r"[^0-9A-Za-z]", "", masked.translate(TO_ASCII))
    for item, _ in pieces:
        for secret in secrets_of(item):
            assert re.sub(r"[^0-9A-Za-z]", "", secret) not in flat, (item, masked)
    for _, after in pieces:  # the words around it are kept
        assert after.strip() in masked
    assert mask_personal_data(masked) == masked


@settings(max_examples=examples(100))
@given(item=personal, before=context, after=gap)
def test_masking_takes_only_the_personal_data(item: str, before: str, after: str):
    masked = mask_personal_data(before + item + after)
    assert masked.startswith(before)
    assert masked.endswith(after)
    assert re.fullmatch(r".*\[(?:身份证号|手机号|银行卡号|邮箱|QQ号|微信号)\].*", masked, flags=re.S)


years = st.integers(1949, 2050)
clause = st.builds(lambda n, unit: f"第{n}{unit}", st.integers(1, 300), st.sampled_from(["条", "款", "项", "章", "批"]))
year = st.builds(lambda y, unit: f"{y}{unit}", years, st.sampled_from(["年", "年底", "年前", "年以来", "年度"]))
year_range = st.builds(
    lambda a, sep, b: f"{a}{sep}{b}年", years, st.sampled_from(["—", "-", "–", "～", "至", "－"]), years
)
amount = st.one_of(
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 10**9), st.sampled_from(["万元", "亿元", "元", "块"])),
    st.builds(
        lambda n, d, unit: f"{n}.{d}{unit}",
        st.integers(0, 9999),
        st.integers(0, 99),
        st.sampled_from(["个", "万套", "万元", "亿元", "平方米", "岁", "万人", "公里"]),
    ),
    st.builds(
        lambda n, unit: f"{n}{unit}",
        st.integers(1, 999_999),
        st.sampled_from(["万元/人", "套", "个", "户", "人", "家", "所", "张床位", "平方米"]),
    ),
)
percentage = st.builds(
    lambda n, d, sign: f"{n}{d}{sign}",
    st.integers(0, 100),
    st.sampled_from(["", ".5", ".25", ".0"]),
    st.sampled_from(["%", "％", "‰"]),
)
day = st.dates(min_value=date(1949, 1, 1), max_value=date(2050, 12, 31))
a_date = st.one_of(
    st.builds(lambda d: f"{d.year}年{d.month}月{d.day}日", day),
    st.builds(lambda d: d.strftime("%Y-%m-%d"), day),
    st.builds(lambda d: f"{d.year}.{d.month}.{d.day}", day),
    st.builds(lambda d: d.strftime("%Y/%m/%d"), day),
    st.builds(lambda d: d.strftime("%Y年%m月"), day),
)
hotline = st.sampled_from(["12345", "110", "119", "120", "12345热线", "96345"])
ordinary = st.one_of(clause, year, year_range, amount, percentage, a_date, hotline)


@settings(max_examples=examples(400))
@given(pieces=st.lists(st.tuples(ordinary, gap), min_size=1, max_size=6), before=context)
def test_clause_numbers_years_amounts_percentages_and_dates_are_never_changed(
    pieces: list[tuple[str, str]], before: str
):
    text = before + "".join(item + after for item, after in pieces)
    assert mask_personal_data(text) == text


@settings(max_examples=examples(200))
@given(pieces=st.lists(ordinary, min_size=2, max_size=6), joiner=st.sampled_from(["、", "，", " ", "和"]))
def test_lists_of_ordinary_numbers_are_never_changed(pieces: list[str], joiner: str):
    text = "行动计划提出" + joiner.join(pieces) + "。"
    assert mask_personal_data(text) == text
