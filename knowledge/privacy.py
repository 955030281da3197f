"""Mask personal data residents type, in messages, logs and sender ids.

Residents type their ID number, phone, bank card, e-mail, QQ or WeChat id into the chat in many
shapes (grouped, dashed, dotted, full-width). Whatever is stored (tracker store, staff inbox,
logs) must not hold them, so ``mask_personal_data`` replaces them by placeholders before
anything is stored, and keeps the rest of the sentence for NLU. Three uses, one module, because
every process needs it and ``knowledge`` is the ground floor (the Rasa image copies only a few
files of ``knowledge/``, so this one imports only the standard library):

- ``mask_personal_data(text)``: the channels' guard, the inbox;
- ``install_log_masking()``: every log record of the process, tracebacks included;
- ``pseudonymous_sender(sender)``: a sender id that is itself personal data becomes a keyed hash
  before Rasa uses it as the conversation id.

How numbers are found: a run of digit groups joined by separators (spaces, dots, dashes of
every width, underscores) is cut into its groups, and each stretch of consecutive groups is
checked, longest first, against the shapes of an ID number (region code + valid birth date,
or a valid GB 11643 check digit), a mobile number (1[3-9] + 9 digits, optional 86/0086; every
group at least 3 digits, so IP addresses and dates never qualify) and a bank card (16–19 digits,
Luhn-valid, a card-network first digit). A grouped ID or card is one separator throughout and
groups of at least 4 digits, so several short numbers in a row ("110 119 120") are never one.
Full-width characters are read as their ASCII twins.
Clause numbers, years, dates, amounts and percentages never have these shapes; numbers followed
by a currency or amount unit (元, 万, 亿, %) are amounts and left alone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import date
from itertools import pairwise
from pathlib import Path

ID_PLACEHOLDER = "[身份证号]"
MOBILE_PLACEHOLDER = "[手机号]"
CARD_PLACEHOLDER = "[银行卡号]"
EMAIL_PLACEHOLDER = "[邮箱]"
QQ_PLACEHOLDER = "[QQ号]"
WECHAT_PLACEHOLDER = "[微信号]"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a mainland ID: the province (GB/T 2260), plus 71/81/82/83 (Taiwan, Hong Kong,
# Macao residence permits) and 91 (foreigners' permanent residence ID, 2023 format).
_PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43"}
    | {"44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83", "91"}
)

# Full-width ASCII (Ｘ, ０-９, －, ＠, ：, ．…) and the ideographic space read as their ASCII twins;
# one character for one, so positions in the normalised text are positions in the original.
_NORMALISE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: " ", 0xFFE5: "¥", 0xFFE0: "¢"}
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000\uffe5\uffe0]")
# Between digit groups (after normalisation): spaces, dots, underscores and every dash.
_SEP = r"[ \t\u00a0\u2000-\u200a\u202f\u205f.\-_\u2010-\u2015\u2212\u30fc\ufe58\ufe63]"
_DIGIT_RUN = re.compile(rf"(?<![0-9])[0-9]+[Xx]?(?:{_SEP}{{1,3}}[0-9]+[Xx]?)*")
_GROUP = re.compile(r"[0-9]+[Xx]?")
_MAX_DIGITS = 19  # the longest thing masked: a 19-digit card
_LENGTHS = frozenset({11, 13, 15, 16, 17, 18, 19})  # mobile, +86 mobile, 0086 mobile / old ID, cards, ID
_MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
_ID18 = re.compile(r"\d{17}[\dXx]")
_ID15 = re.compile(r"\d{15}")
_AMOUNT_AFTER = re.compile(r"\s*(?:元|万|亿|块|%|‰|美元|港元|人民币)")
_CURRENCY_BEFORE = re.compile(r"[¥$]\s*$")

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_AFTER_KEYWORD = r"(?:号码|号|id|ID)?[ \t:]*(?:是|为)?[ \t:]*"
_QQ = re.compile(rf"(?i)(?<![a-z])(?:qq|扣扣){_AFTER_KEYWORD}(?P<id>[1-9][0-9]{{4,11}})(?![0-9])")
_WECHAT_ID = r"(?P<id>[a-z][a-z0-9_-]{5,29}|[0-9]{5,12})(?![a-z0-9_-])"
_WXID = re.compile(r"(?i)(?<![a-z0-9_])wxid_[a-z0-9_-]{4,30}(?![a-z0-9_-])")
_WECHAT = re.compile(rf"(?i)(?:微信|薇信|威信){_AFTER_KEYWORD}{_WECHAT_ID}")
# "vx"/"wx" are also plain Latin letters ("wx config"): after them, an id of letters alone counts
# only when a colon, 号 or 是 says an id follows; one with a digit, "_" or "-" always does.
_WECHAT_LATIN = re.compile(
    rf"(?i)(?<![a-z])(?:vx|wx)(?P<marked>(?:号码|号|id)?[ \t]*(?::|是|为)[ \t:]*|(?:号码|号)[ \t]*)?[ \t]*{_WECHAT_ID}"
)


def is_valid_id_number(value: str) -> bool:
    """Checksum of a mainland resident ID number (GB 11643)."""
    if not _ID18.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def has_id_shape(value: str) -> bool:
    """An 18-digit ID with a plausible region and a valid birth date, whatever its check digit
    (a resident who mistypes one digit still typed their number), or a 15-digit first-generation
    ID (region + YYMMDD, born 1900–1999, no check digit)."""
    if _ID18.fullmatch(value):
        return value[:2] in _PROVINCES and _valid_date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    if _ID15.fullmatch(value):
        return value[:2] in _PROVINCES and _valid_date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    return False


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _classify(groups: list[str], separators: list[str]) -> str | None:
    """The placeholder for a stretch of digit groups, or None if it is no personal data.

    A grouped ID or card is written with one separator throughout and groups of at least four
    digits (the last excepted); several short numbers in a row ("110 119 120") are not one."""
    digits = "".join(groups)
    if len(digits) not in _LENGTHS or any(g[-1] in "Xx" for g in groups[:-1]):
        return None
    grouped_like_one = len(set(separators)) <= 1 and all(len(g) >= 4 for g in groups[:-1])
    if (len(groups) == 1 or grouped_like_one) and has_id_shape(digits):
        return ID_PLACEHOLDER
    if len(groups) == 1 and is_valid_id_number(digits):  # checksum-valid 18 digits were always masked
        return ID_PLACEHOLDER
    if not digits.isdigit():
        return None
    body = groups[1:] if groups[0] in ("86", "0086") and len(groups) > 1 else groups
    if _MOBILE.fullmatch(digits) and all(len(g) >= 3 for g in body):
        return MOBILE_PLACEHOLDER
    if 16 <= len(digits) <= _MAX_DIGITS and digits[0] in "234569" and grouped_like_one and _luhn_ok(digits):
        return CARD_PLACEHOLDER
    return None


def _number_spans(normal: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for run in _DIGIT_RUN.finditer(normal):
        if run.end() - run.start() < 11:  # shorter than the shortest thing masked (a mobile)
            continue
        groups = list(_GROUP.finditer(normal, run.start(), run.end()))
        i = 0
        while i < len(groups):
            found = None
            ends = []
            length = 0
            for j in range(i, len(groups)):
                length += len(groups[j].group())
                if length > _MAX_DIGITS:
                    break
                ends.append(j)
            for j in reversed(ends):  # longest first
                stretch = groups[i : j + 1]
                separators = [normal[a.end() : b.start()] for a, b in pairwise(stretch)]
                placeholder = _classify([g.group() for g in stretch], separators)
                if placeholder is None:
                    continue
                start, end = groups[i].start(), groups[j].end()
                if _AMOUNT_AFTER.match(normal, end) or _CURRENCY_BEFORE.search(normal[max(0, start - 3) : start]):
                    continue  # 13800000000元 is an amount
                if placeholder == MOBILE_PLACEHOLDER and start > 0 and normal[start - 1] == "+":
                    start -= 1
                found = (start, end, placeholder)
                i = j + 1
                break
            if found is None:
                i += 1
            else:
                spans.append(found)
    return spans


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, placeholder in sorted(spans, reverse=True):
        text = text[:start] + placeholder + text[end:]
    return text


def _pattern_spans(pattern: re.Pattern[str], placeholder: str, group: int | str = 0) -> Callable[[str], list]:
    def spans(normal: str) -> list[tuple[int, int, str]]:
        return [(m.start(group), m.end(group), placeholder) for m in pattern.finditer(normal)]

    return spans


def _latin_wechat_spans(normal: str) -> list[tuple[int, int, str]]:
    return [
        (m.start("id"), m.end("id"), WECHAT_PLACEHOLDER)
        for m in _WECHAT_LATIN.finditer(normal)
        if m.group("marked") is not None or re.search(r"[0-9_-]", m.group("id"))
    ]


# In this order: an e-mail's local part may be a QQ or phone number; numbers before the
# keyword patterns, so "微信：138 0000 0000" becomes "微信：[手机号]".
_DETECTORS = (
    _pattern_spans(_EMAIL, EMAIL_PLACEHOLDER),
    _number_spans,
    _pattern_spans(_QQ, QQ_PLACEHOLDER, "id"),
    _pattern_spans(_WXID, WECHAT_PLACEHOLDER),
    _pattern_spans(_WECHAT, WECHAT_PLACEHOLDER, "id"),
    _latin_wechat_spans,
)


def mask_personal_data(text: str) -> str:
    """``text`` with ID numbers, mobiles, bank cards, e-mails, QQ and WeChat ids replaced by
    placeholders (``[身份证号]``, ``[手机号]``, ``[银行卡号]``, ``[邮箱]``, ``[QQ号]``, ``[微信号]``);
    everything else, full-width characters included, is kept as it was."""
    normal = text.translate(_NORMALISE) if _FULL_WIDTH.search(text) else text
    for detect in _DETECTORS:
        spans = detect(normal)
        if spans:  # placeholders have no full-width characters: both texts stay aligned
            text, normal = _replace(text, spans), _replace(normal, spans)
    return text


def contains_personal_data(text: str) -> bool:
    return mask_personal_data(text) != text


# ---------------------------------------------------------------- logs


def install_log_masking() -> None:
    """Mask personal data in every log record this process creates, whatever logger or handler
    it goes to (defence in depth: the channels already mask before Rasa sees a message).

    A log-record factory, not a Filter or Formatter: filters and formatters belong to loggers and
    handlers that libraries (Rasa, Sanic, aiohttp, coloredlogs) create and replace, while the
    factory sees every record first. It masks the formatted message, the traceback and the stack:
    the traceback is rendered once here into ``exc_text`` (which every ``logging.Formatter``
    prints instead of rendering ``exc_info`` again); if it held personal data, ``exc_info`` is
    dropped so that no handler can render the unmasked original.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "masks_personal_data", False):
        return
    render = logging.Formatter()

    def masked_record(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's own problem
            return record
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            try:
                traceback_text = render.formatException(record.exc_info)
            except Exception:
                traceback_text = "（无法显示异常信息）"
            record.exc_text = mask_personal_data(traceback_text)
            if record.exc_text != traceback_text:
                record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info)
        return record

    masked_record.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)


# ---------------------------------------------------------------- sender ids

SENDER_KEY_ENV = "SENDER_HASH_KEY"
SENDER_KEY_FILE = Path(__file__).resolve().parent.parent / "var" / "sender-hash.key"
SENDER_PREFIX = "anon-"
_file_key: bytes | None = None
_key_lock = threading.Lock()
log = logging.getLogger(__name__)


def _sender_key() -> bytes:
    configured = os.environ.get(SENDER_KEY_ENV, "")
    if configured:
        return configured.encode("utf-8")
    global _file_key
    with _key_lock:
        if _file_key is None:
            _file_key = _key_from_file(SENDER_KEY_FILE)
        return _file_key


def _key_from_file(path: Path) -> bytes:
    """Read the key, or create it once: written to a private temporary file and linked into place,
    so two processes starting together agree on one key and nobody reads a half-written one."""
    try:
        try:
            return _read_key(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            with suppress(FileExistsError):  # another process was first: use its key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return _read_key(path)
    except OSError as exc:  # read-only file system (a container without SENDER_HASH_KEY), bad file
        log.warning(
            "sender-id key: cannot use %s (%s); using a key for this process only. "
            "Set %s so every process and restart maps a resident to the same conversation.",
            path,
            exc.strerror or exc,
            SENDER_KEY_ENV,
        )
        return secrets.token_bytes(32)


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise OSError(0, "the key file is shorter than 32 characters")
    return key.encode("utf-8")


def pseudonymous_sender(sender: str) -> str:
    """``sender`` unchanged, or ``anon-`` + a keyed hash if it holds personal data.

    Rasa stores the sender id as the conversation id in the tracker store and prints it in its
    logs, so an ID number, a phone number or an e-mail used as a sender id would be stored in clear.
    Sender ids without personal data (the widget's ``web-<hex>``) are returned unchanged, so existing
    conversations keep working; the others become ``anon-`` + HMAC-SHA256(key, sender), 128 bits
    in hex: the same resident always gets the same conversation, and nobody can go back.

    Keyed, not a plain hash: there are only ~10¹⁰ mobile numbers and fewer plausible ID numbers,
    so an unkeyed SHA-256 is reversed by trying them all. The key comes from ``SENDER_HASH_KEY``
    (set it, from the same secret, in every replica and restart, or a resident's conversation
    splits); without it, a key generated once is kept in ``var/sender-hash.key`` with mode 600,
    so ``make run`` on one machine needs no set-up and keeps its conversations across restarts,
    and only the service account can read it (whoever holds the key can test guesses). If that
    file cannot be written, a key for the process alone is used and a warning is logged.
    """
    if not contains_personal_data(sender):
        return sender
    digest = hmac.new(_sender_key(), sender.encode("utf-8"), hashlib.sha256).hexdigest()
    return SENDER_PREFIX + digest[:32]
