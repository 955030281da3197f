"""Traditional → simplified characters and full-width folding: the first thing done to a
resident's message, in the channels (so NLU and the stored conversation see simplified text)
and again in the action server (``knowledge.text.normalize``) for any other path.

OpenCC's maintained conversion tables ship inside the ``opencc`` wheel: nothing is downloaded.
Standard library and opencc only, so the Rasa image can copy this file alone.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# "22年底", "25年的目标", "21年城镇居民": a year of the plan's time written with two digits. Not a span
# of years ("交了22年社保", "住了25年的房子"): not after 了/满/过/…, and only before what follows a year.
_SHORT_YEAR = re.compile(
    r"(?<![\d.了满过交住干做近有足第])(1[5-9]|2[0-6])年(?=底|末|初|的|前|后|要|目标|呢|是|时|那|又|达到|多少|上半年|下半年|全年|一?整年|城|农|杭州|全市|以来|[，,。？?！!]|$)"
)


@lru_cache(maxsize=1)
def _traditional_to_simplified():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


# Traditional 著 is both simplified 着 ("著火了", "站著") and 著 ("著名", "显著"); OpenCC's t2s keeps it
# as 著, so "廚房著火了" was no fire. Its tw2s table tells them apart but turns the Wu "格么" into "格幺".
# So 著 becomes 着 except in the words that keep it.
_ZHU = re.compile(r"(?<![显卓昭编原名论巨土专合遗])著(?![名作称述书录])")


def traditional_to_simplified(text: str) -> str:
    """Only the characters: "託育機構" -> "托育机构"; punctuation and everything else as typed.
    A lone surrogate (not a character; the channels drop them) is dropped here too."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = "".join(c for c in text if not "\ud800" <= c <= "\udfff")
    return _ZHU.sub("着", _traditional_to_simplified().convert(text))


# "二一年", "二五年的目标": a year written in numerals, as said aloud (not inside "一九二一年", nor "二十二年")
_SPOKEN_YEAR = re.compile(r"(?<![〇零一二三四五六七八九十百千万两几第])二([〇零一二三四五六])年")
_SPOKEN_DIGITS = str.maketrans("〇零一二三四五六", "00123456")

# "那21年有多少了": after 那 opening a follow-up, a year from 2020 to 2026 whatever follows it.
_SHORT_YEAR_AFTER_THAT = re.compile(r"^(那|那么)(2[0-6])年(?!\d)")


def simplified(text: str) -> str:
    """Traditional characters as simplified ("託育" -> "托育", "戶口" -> "户口"), full-width
    letters, digits and punctuation as ASCII (NFKC), a two-digit year in full ("22年底", "二二年底" ->
    "2022年底"). Residents on traditional input methods are answered like everyone else; replies
    stay simplified."""
    text = unicodedata.normalize("NFKC", traditional_to_simplified(text))
    text = _SPOKEN_YEAR.sub(lambda m: f"2{m.group(1).translate(_SPOKEN_DIGITS)}年", text)
    text = _SHORT_YEAR_AFTER_THAT.sub(lambda m: f"{m.group(1)}20{m.group(2)}年", text)
    return _SHORT_YEAR.sub(_full_year, text)


# "交了社保15年，…", "在杭州工作过20年，…": a span told a few words after its verb.
# (Not 了解, 交通, 住房, 干部, 待遇: "想了解22年底…" asks about a year.)
_SPAN_VERB_BEFORE = re.compile(
    r"(了(?!解)|满|过|交(?!通)|缴|住(?!房)|干(?!部)|待(?!遇)|呆|工作)[^，,。？?！!；;\s\d]{0,4}$"
)


def _full_year(match: re.Match[str]) -> str:
    if _SPAN_VERB_BEFORE.search(match.string, 0, match.start()):
        return match.group()
    return f"20{match.group(1)}年"
