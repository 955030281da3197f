"""Property-based fuzzing of WeChat's callback protocol (knowledge/wechat_protocol.py).

Everything a caller can hand these functions comes, in the end, from the network. The properties:
signatures accept exactly the right digest; AES safe mode round-trips any text and refuses anything
else with ``CryptoError`` only; the XML parser returns a flat dict or raises ``BadXml`` only, whatever
the bytes; replies are always well-formed XML that reads back as what was sent; text is always cut to
WeChat's 2048 bytes, keeping the 来源 line. Budgets and profiles: tests/fuzz_settings.py.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import example, given, settings
from hypothesis import strategies as st

from knowledge import wechat_protocol as proto
from tests.fuzz_settings import examples

KEY = proto.aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
APPID = "wx1234567890abcdef"
SOURCE_LINE = "来源：《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划（2021—2025年）》第9条"
# Characters XML 1.0 does not allow anywhere in a document, not even in CDATA.
XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Chinese, emoji, full-width digits, XML specials and line breaks weighted in, on top of any text.
residents_text = st.text(
    st.one_of(
        st.sampled_from("加装电梯托育积分落户租房杭州市民１２３，。！？“”😀👍🏻\n\r\t <>&]]>"),
        st.characters(codec="utf-8"),
    ),
    max_size=300,
)
any_text = st.text(max_size=300)  # any code point except lone surrogates
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
base64_chars = st.text(BASE64 + "=", max_size=200)


def raw_aes(plain: bytes) -> str:
    """AES-256-CBC exactly as WeChat does it but without any padding: to hand decrypt() bad padding."""
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def well_formed(content: str) -> str:
    """What an XML parser reads back from ``content`` in CDATA (invalid characters dropped, line ends normalized)."""
    return XML_INVALID.sub("", content).replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- signatures, timestamps, keys


@settings(max_examples=examples(100))
@given(token=any_text, parts=st.lists(any_text, max_size=4), given_signature=st.one_of(st.none(), any_text))
@example(token="t", parts=["1", "2"], given_signature=" " + proto.signature("t", "1", "2").upper() + "\n")
@example(token="t", parts=["1", "2"], given_signature="ｆ" * 40)
def test_a_signature_is_accepted_exactly_when_it_is_the_digest(token, parts, given_signature):
    right = proto.signature(token, *parts)
    assert re.fullmatch("[0-9a-f]{40}", right)
    assert proto.signature_ok(token, right, *parts)
    assert proto.signature_ok(token, right.upper(), *parts)
    expected = given_signature is not None and given_signature.strip().lower() == right
    assert proto.signature_ok(token, given_signature, *parts) is expected


@settings(max_examples=examples(100))
@given(value=st.one_of(st.none(), any_text, st.integers().map(str)), now=st.integers(0, 2**33))
@example(value="1" * 5000, now=0)  # more digits than int() accepts
@example(value="１７００００００００", now=1_700_000_000)  # full-width digits: int() reads them
def test_timestamp_fresh_is_a_boolean_for_any_input(value, now):
    fresh = proto.timestamp_fresh(value, now)
    assert isinstance(fresh, bool)
    if fresh:
        assert abs(int(value) - now) <= proto.MAX_CLOCK_SKEW


@settings(max_examples=examples(100))
@given(encoding_aes_key=st.one_of(any_text, base64_chars, st.text(BASE64, min_size=43, max_size=43)))
@example(encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEF")  # 42 characters
@example(encoding_aes_key="中" * 43)
def test_aes_key_is_32_bytes_or_a_value_error(encoding_aes_key):
    try:
        key = proto.aes_key(encoding_aes_key)
    except ValueError:
        return
    assert isinstance(key, bytes) and len(key) == 32


# ---------------------------------------------------------------- AES safe mode


@settings(max_examples=examples(100))
@given(
    plaintext=residents_text, appid=st.one_of(st.just(APPID), any_text), random16=st.binary(min_size=16, max_size=16)
)
@example(plaintext="", appid=APPID, random16=b"\0" * 16)
@example(plaintext="x" * 8, appid="", random16=b"\xff" * 16)  # 16 + 4 + 8 + 4 = 32: a whole block of padding
@example(plaintext="<xml><Content>蓝领公寓怎么申请？😀</Content></xml>", appid=APPID, random16=b"r" * 16)
def test_decrypt_inverts_encrypt_for_any_text(plaintext, appid, random16):
    ciphertext = proto.encrypt(KEY, plaintext, appid, random16)
    assert proto.decrypt(KEY, ciphertext, appid) == plaintext
    # Independently of our decrypt: standard PKCS#7 with 32-byte blocks and WeChat's layout.
    decryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).decryptor()
    padded = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    unpadder = padding.PKCS7(256).unpadder()
    raw = unpadder.update(padded) + unpadder.finalize()
    (length,) = struct.unpack(">I", raw[16:20])
    assert raw[:16] == random16 and raw[20 : 20 + length].decode() == plaintext and raw[20 + length :] == appid.encode()
    if appid != APPID:
        with pytest.raises(proto.CryptoError):
            proto.decrypt(KEY, ciphertext, APPID)


def decrypt_or_crypto_error(ciphertext: str) -> str | None:
    try:
        plaintext = proto.decrypt(KEY, ciphertext, APPID)
    except proto.CryptoError:
        return None
    assert isinstance(plaintext, str)
    return plaintext


@settings(max_examples=examples(100))
@given(
    ciphertext=st.one_of(any_text, base64_chars, st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()))
)
@example(ciphertext="")
@example(ciphertext="====")
@example(ciphertext="QUJD\n")
@example(ciphertext="ＱＵＪＤ")  # full-width base64
@example(ciphertext=base64.b64encode(b"\0" * 16).decode())
def test_any_string_decrypts_or_raises_crypto_error(ciphertext):
    decrypt_or_crypto_error(ciphertext)


@settings(max_examples=examples(100))
@given(
    plaintext=residents_text,
    mutation=st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
        st.tuples(st.just("append"), st.integers(1, 64), st.integers(0, 255)),
        st.tuples(st.just("cut_base64"), st.integers(0, 10**6), st.just(0)),
    ),
)
@example(plaintext="hi", mutation=("truncate", 16, 0))
@example(plaintext="hi", mutation=("cut_base64", 5, 0))
def test_mutated_or_truncated_ciphertexts_raise_crypto_error_only(plaintext, mutation):
    ciphertext = proto.encrypt(KEY, plaintext, APPID)
    data = base64.b64decode(ciphertext)
    kind, where, value = mutation
    if kind == "flip":
        i = where % len(data)
        mutated = base64.b64encode(data[:i] + bytes([data[i] ^ value]) + data[i + 1 :]).decode()
    elif kind == "truncate":
        mutated = base64.b64encode(data[: where % len(data)]).decode()
    elif kind == "append":
        mutated = base64.b64encode(data + bytes([value]) * where).decode()
    else:
        mutated = ciphertext[: where % len(ciphertext)]
    result = decrypt_or_crypto_error(mutated)
    if kind in ("truncate", "cut_base64") or (kind == "append" and where % 16):
        assert result is None  # no longer whole AES blocks, or no longer base64
    if kind == "flip" and where % len(data) >= len(data) - 16:
        assert result is None  # the last block carries the padding, the AppID and the length check


@settings(max_examples=examples(100))
@given(blocks=st.integers(1, 6), body=st.binary(max_size=96), pad=st.integers(0, 255), pad_run=st.integers(0, 40))
@example(blocks=2, body=b"", pad=0, pad_run=1)  # pad byte 0
@example(blocks=2, body=b"", pad=33, pad_run=33)  # larger than WeChat's 32-byte block
@example(blocks=2, body=b"", pad=32, pad_run=31)  # one byte short of the run it announces
@example(blocks=4, body=b"", pad=64, pad_run=64)
def test_pkcs7_padding_is_checked_byte_for_byte(blocks, body, pad, pad_run):
    size = blocks * 16
    tail = bytes([pad]) * min(pad_run, size)
    plain = (body + bytes(size))[: size - len(tail)] + tail
    assert len(plain) == size
    valid_padding = 1 <= plain[-1] <= proto.BLOCK and plain[-plain[-1] :] == bytes([plain[-1]]) * plain[-1]
    result = decrypt_or_crypto_error(raw_aes(plain))
    if not valid_padding:
        assert result is None


# ---------------------------------------------------------------- XML of incoming messages

XML_FRAGMENTS = [
    "<xml>",
    "</xml>",
    "<Content>",
    "</Content>",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE xml [",
    "<!doctype xml>",
    '<!ENTITY a "aaaaaaaaaa">',
    '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
    "]>",
    "&a;",
    "&xxe;",
    "&amp;",
    "&#0;",
    "&#x1F600;",
    '<?xml version="1.0" encoding="utf-16"?>',
    '<?xml version="1.0" encoding="gbk"?>',
    "<?pi data?>",
    "<!-- comment -->",
    '<a b="',
    '">',
    "<ns:xml xmlns:ns='urn:x'>",
    "\x00",
    "\ufeff",
    "加装电梯",
]
xmlish = st.lists(st.one_of(st.sampled_from(XML_FRAGMENTS), any_text), max_size=30).map("".join)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]><xml><Content>&j;</Content></xml>"
)
XXE = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><C>&x;</C></xml>'


def parse_or_bad_xml(body: str | bytes) -> dict[str, str] | None:
    try:
        fields = proto.parse_xml(body)
    except proto.BadXml:
        return None
    assert isinstance(fields, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    return fields


@settings(max_examples=examples(100))
@given(body=st.one_of(xmlish, any_text, st.text(max_size=50).map(lambda s: f"<xml>{s}</xml>")))
@example(body=BILLION_LAUGHS)
@example(body=XXE)
@example(body="<xml>" + "<a>" * 20_000 + "</a>" * 20_000 + "</xml>")  # deep nesting
@example(body='<xml><Content a="' + "x" * 1_000_000 + '">hi</Content></xml>')  # a huge attribute
@example(body="<xml><Content>\ud800</Content></xml>")  # a lone surrogate (not encodable as UTF-8)
@example(body='<?xml version="1.0" encoding="utf-16"?><xml><Content>hi</Content></xml>')
def test_any_text_is_parsed_or_refused_with_bad_xml(body):
    fields = parse_or_bad_xml(body)
    if fields is not None:
        assert "lol" not in "".join(fields.values()) and "root:" not in "".join(fields.values())  # nothing expanded


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        XXE,
        "<!doctype xml><xml/>",
        '<!-- <a> --><!DOCTYPE xml [<!ENTITY a "b">]><xml><C>&a;</C></xml>',  # behind a comment
        '<!DOCTYPE xml [<!ENTITY % p "x"> %p;]><xml/>',  # a parameter entity
        "<xml><C>&a;</C></xml>",  # an entity nobody declared
    ],
)
def test_dtds_and_entities_are_refused(body):
    with pytest.raises(proto.BadXml):
        proto.parse_xml(body)


def test_a_resident_may_type_doctype_in_a_message():
    """Found by fuzzing: a text search for "<!DOCTYPE" refused the whole message (400) for what a resident typed."""
    typed = '<!DOCTYPE html> 和 <!ENTITY a "b"> 是什么意思？'
    assert proto.parse_xml(f"<xml><Content>{proto.cdata(typed)}</Content></xml>")["Content"] == typed


@settings(max_examples=examples(100))
@given(body=st.one_of(st.binary(max_size=300), xmlish.map(lambda s: s.encode("utf-8"))))
@example(body=b"<xml><Content>\xff\xfe</Content></xml>")  # invalid UTF-8
@example(body=b"\xef\xbb\xbf<xml><Content>hi</Content></xml>")  # UTF-8 BOM
@example(body="<xml><Content>hi</Content></xml>".encode("utf-16"))
@example(body=b"<xml><Content>\xed\xa0\x80</Content></xml>")  # an encoded surrogate
@example(body=BILLION_LAUGHS.encode())
def test_any_bytes_are_parsed_or_refused_with_bad_xml(body):
    parse_or_bad_xml(body)


field_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)


@settings(max_examples=examples(100))
@given(fields=st.dictionaries(field_names, residents_text, max_size=8))
def test_a_well_formed_message_reads_back_field_by_field(fields):
    body = "<xml>" + "".join(f"<{k}>{proto.cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"
    assert proto.parse_xml(body) == {k: well_formed(v).strip() for k, v in fields.items()}
    assert proto.parse_xml(body.encode("utf-8")) == proto.parse_xml(body)


# ---------------------------------------------------------------- replies


@settings(max_examples=examples(100))
@given(to_user=any_text, from_user=any_text, content=st.one_of(residents_text, any_text), create_time=st.integers(0))
@example(to_user="o", from_user="gh", content="答复\x0b第二行（Word 的换行符）", create_time=1)
@example(to_user="o", from_user="gh", content="a ]]> b ]]]]> c <![CDATA[", create_time=1)
@example(to_user="o]]>", from_user="\x00", content="\ufffe\uffff", create_time=1)
def test_a_text_reply_is_well_formed_xml_that_reads_back(to_user, from_user, content, create_time):
    reply = proto.text_reply_xml(to_user, from_user, content, create_time)
    fields = proto.parse_xml(reply)
    assert fields["ToUserName"] == well_formed(to_user).strip()
    assert fields["FromUserName"] == well_formed(from_user).strip()
    assert fields["Content"] == well_formed(content).strip()
    assert fields["MsgType"] == "text" and fields["CreateTime"] == str(create_time)


@settings(max_examples=examples(100))
@given(
    content=residents_text,
    token=st.text(min_size=1, max_size=32),
    nonce=st.text("0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=16),  # WeChat's nonces: digits
    timestamp=st.integers(0, 2**33),
)
@example(content="<!DOCTYPE x>", token="t", nonce="1", timestamp=1)
def test_an_encrypted_reply_is_signed_and_decrypts_to_the_reply(content, token, nonce, timestamp):
    inner = proto.text_reply_xml("o", "gh", content, 1)
    outer = proto.parse_xml(proto.encrypted_reply_xml(token, KEY, APPID, inner, str(timestamp), nonce))
    assert outer["TimeStamp"] == str(timestamp) and outer["Nonce"] == nonce
    assert proto.signature_ok(token, outer["MsgSignature"], str(timestamp), nonce, outer["Encrypt"])
    assert proto.parse_xml(proto.decrypt(KEY, outer["Encrypt"], APPID))["Content"] == well_formed(content).strip()


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


options_block = st.lists(residents_text.map(lambda t: t.replace("\n", " ")), max_size=proto.MAX_OPTIONS).map(
    lambda titles: (
        "\n\n" + proto.OPTIONS_HEADER + "\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(titles, 1)) if titles else ""
    )
)
# An answer as the bot sends it: a body (often far over the limit), the 来源 line, perhaps numbered options.
answers = st.builds(
    lambda body, repeat, options: f"{body * repeat}\n{SOURCE_LINE}{options}",
    residents_text,
    st.integers(1, 40),
    options_block,
)


@settings(max_examples=examples(100))
@given(
    text=st.one_of(answers, residents_text, st.text(max_size=3000)), limit=st.sampled_from([proto.TEXT_LIMIT, 64, 200])
)
@example(text="加装电梯" * 400 + "\n" + SOURCE_LINE, limit=proto.TEXT_LIMIT)
@example(text="😀" * 1000 + "\n" + SOURCE_LINE, limit=proto.TEXT_LIMIT)
@example(text="x\n" + SOURCE_LINE * 30, limit=proto.TEXT_LIMIT)  # the 来源 line alone is over the limit
def test_a_passive_reply_fits_2048_bytes_and_keeps_the_source_line(text, limit):
    fitted = proto.fit_text(text, limit)
    assert utf8_len(fitted) <= limit
    if utf8_len(text) <= limit:
        assert fitted == text
        return
    lines = text.split("\n")
    source_at = next((i for i, line in enumerate(lines) if line.startswith(proto.SOURCE_PREFIX)), None)
    if source_at is not None:
        tail = "\n".join(lines[source_at:])
        if utf8_len(tail) + utf8_len(proto.ELLIPSIS) + 1 < limit:
            assert fitted.endswith("\n" + tail)
            assert text.startswith(fitted[: -len(tail) - 1].removesuffix(proto.ELLIPSIS).rstrip())


@settings(max_examples=examples(100))
@given(text=st.one_of(answers, st.text(max_size=5000)), limit=st.sampled_from([proto.TEXT_LIMIT, 4, 5, 64, 200]))
@example(text="😀" * 3000 + "\n" + SOURCE_LINE, limit=proto.TEXT_LIMIT)
@example(text="\n\n\n" + "长" * 3000 + "\n\n" + SOURCE_LINE + "\n", limit=proto.TEXT_LIMIT)
@example(text="😀😀", limit=4)  # a limit of one 4-byte character
def test_api_messages_are_split_within_the_limit_losing_nothing(text, limit):
    parts = proto.split_text(text, limit)
    if utf8_len(text) <= limit:
        assert parts == [text]  # as it is (the channel never sends an empty text: compose() says NO_ANSWER)
    assert all(utf8_len(p) <= limit for p in parts)
    assert all(p.strip() for p in parts) or parts == [text]
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", "".join(parts)) == squeeze.sub("", text)
    if SOURCE_LINE in text and utf8_len(SOURCE_LINE) <= limit:
        assert any(SOURCE_LINE in p for p in parts)


message = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(st.none(), residents_text, st.integers()),
        "buttons": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"title": st.one_of(residents_text, st.none()), "payload": any_text}
                ),
                max_size=12,
            ),
        ),
        "custom": st.dictionaries(any_text, any_text, max_size=2),
    },
)


@settings(max_examples=examples(100))
@given(messages=st.lists(message, max_size=6))
def test_composed_replies_number_at_most_nine_options_and_always_say_something(messages):
    content, options = proto.compose(messages)
    assert content.strip() and len(options) <= proto.MAX_OPTIONS
    for i, option in enumerate(options, 1):
        assert f"{i}. {option['title']}" in content and option["payload"]
    fitted = proto.fit_text(content)
    assert utf8_len(fitted) <= proto.TEXT_LIMIT
    assert proto.parse_xml(proto.text_reply_xml("o", "gh", fitted, 1))["Content"] == well_formed(fitted).strip()


@settings(max_examples=examples(100))
@given(text=any_text)
@example(text="１")
@example(text=" 9\n")
@example(text="٣")  # Arabic-Indic three: a digit, but not one residents type here
def test_an_option_number_is_one_to_nine_or_none(text):
    number = proto.option_number(text)
    stripped = text.strip()
    if number is None:
        assert stripped not in [str(i) for i in range(1, 10)] + [chr(ord("０") + i) for i in range(1, 10)]
    else:
        assert 1 <= number <= 9 and stripped in (str(number), chr(ord("０") + number))
