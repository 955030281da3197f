"""What every resident message passes before Rasa sees it (REST and WeChat channels).

``screen(raw)`` cleans the text and masks personal data, or says what to answer instead:
- control characters, zero-width characters and lone surrogates are dropped; simple markup
  (``<b>托位</b>``) is reduced to its text, markup that would run code (``<script>``,
  ``onerror=``) to ``[代码]``, which the bot declines; whitespace is collapsed;
- empty messages and messages over ``MAX_CHARS`` get a friendly reply and are not processed
  (nothing of them is stored);
- Rasa's "/intent{...}" syntax is accepted only for the payloads our own buttons send;
  anything else typed with a leading "/" is treated as ordinary words;
- personal data (ID numbers, mobiles, bank cards, e-mails, QQ and WeChat ids, in the shapes
  residents type them: see ``knowledge/privacy.py``) is replaced by placeholders
  (``[身份证号]``…), so the tracker store, logs and inbox never hold it and NLU still reads the
  rest of the sentence.

Log masking (``install_log_masking``) lives in ``knowledge/privacy.py`` with the masking itself:
the Rasa process, the action server and the staff service all install it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from knowledge.chinese import traditional_to_simplified
from knowledge.privacy import mask_personal_data

MAX_CHARS = 500
TOO_LONG = f"您的消息太长了（超过{MAX_CHARS}字）。请把问题精简到{MAX_CHARS}字以内再发一次，例如“加装电梯怎么申请”。"
EMPTY = "请输入您想咨询的问题，例如“蓝领公寓怎么申请”。"
TOO_FAST = "您发送消息太频繁了，请稍等一分钟再问。"
SORRY = "抱歉，系统暂时出了点问题，没能查到答案。请稍后再试，或拨打12345政务服务便民热线咨询。"

# The payloads our buttons send (domain.yml greeting buttons, related-question buttons).
ALLOWED_PAYLOAD = re.compile(r'/ask_(?:elevator|childcare|hukou|rental|plan)|/choose_faq\{"faq_id":"\d{1,9}"\}')
MARKUP = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
# Markup that would run code in a page (<script>, onerror=, javascript:): not a resident's formatting.
# It becomes CODE_MARK, so the bot declines the message (knowledge/understanding.py) and no code is stored.
# A link or form to elsewhere (<a href="http://…">, <form action=//…>) is no formatting either, nor a
# frame, object or embedded page (<object data="data:text/html;base64,…">).
ACTIVE_MARKUP = re.compile(
    r"^<\s*/?\s*(script|iframe|frame|object|embed|applet|form|base|meta|link|svg)\b|\bon[a-z]+\s*=|javascript:|"
    r"data:\s*[a-z]+/[a-z0-9+.-]+\s*[;,]|\b(href|action|src)\s*=\s*[\"']?\s*(https?:)?//",
    re.IGNORECASE,
)
CODE_MARK = "[代码]"
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format, surrogate, private use, unassigned


@dataclass(frozen=True)
class Screened:
    text: str | None = None  # what Rasa may process
    reply: str | None = None  # what to answer instead, without processing


def clean(raw: str) -> str:
    chars = (" " if c in "\t\n\r\v\f" else c for c in raw.translate(FULL_WIDTH_DIGITS))
    text = "".join(c for c in chars if unicodedata.category(c) not in DROPPED_CATEGORIES)
    text = MARKUP.sub(lambda tag: f" {CODE_MARK} " if ACTIVE_MARKUP.search(tag.group()) else " ", text)
    return " ".join(text.split())


def screen(raw: object) -> Screened:
    if not isinstance(raw, str):
        return Screened(reply=EMPTY)
    if len(raw) > 20 * MAX_CHARS:  # don't even clean a novel
        return Screened(reply=TOO_LONG)
    text = clean(raw)
    if not text:
        return Screened(reply=EMPTY)
    if len(text) > MAX_CHARS:
        return Screened(reply=TOO_LONG)
    if not ALLOWED_PAYLOAD.fullmatch(text):  # button payloads stay byte for byte
        # NLU and the stored conversation see the characters the knowledge base uses (託育 -> 托育)
        text = traditional_to_simplified(text)
    if text.startswith("/") and not ALLOWED_PAYLOAD.fullmatch(text):
        text = text.lstrip("/").strip()
        if not text:
            return Screened(reply=EMPTY)
    return Screened(text=mask_personal_data(text))
