"""Chinese text to search terms: normalisation, synonyms, jieba words and bigrams.

The jieba tokenizer is created on first use with the project's user
dictionaries (``data/dicts/*.txt``), the same ones Rasa's JiebaTokenizer loads.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

import yaml

from knowledge.settings import DICTS_DIR, KNOWLEDGE_DIR

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9.%]+")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function, question and filler words (knowledge/stopwords.txt)."""
    lines = (KNOWLEDGE_DIR / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for path in sorted(DICTS_DIR.glob("*.txt")):
        with path.open("rb") as dictionary:  # jieba leaves files it opens itself unclosed
            tokenizer.load_userdict(dictionary)
    return tokenizer


@lru_cache(maxsize=1)
def synonyms() -> tuple[tuple[str, str], ...]:
    """(variant, canonical) pairs, longest variant first, from knowledge/synonyms.yml."""
    data = yaml.safe_load((KNOWLEDGE_DIR / "synonyms.yml").read_text(encoding="utf-8")) or {}
    pairs = [(variant, canonical) for canonical, variants in data.items() for variant in variants]
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


@lru_cache(maxsize=1)
def _traditional_to_simplified():  # type: ignore[no-untyped-def]
    import opencc  # OpenCC's own dictionaries, inside the wheel: nothing is downloaded

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters as simplified ("託育" -> "托育", "戶口" -> "户口"), full-width
    letters, digits and punctuation as ASCII (NFKC). Residents on traditional input methods are
    answered like everyone else; replies stay simplified."""
    return unicodedata.normalize("NFKC", _traditional_to_simplified().convert(text))


def normalize(text: str) -> str:
    """Simplified characters, NFKC (full-width digits and letters to ASCII), lower case,
    synonyms to canonical terms."""
    text = simplified(text).lower()
    for variant, canonical in synonyms():
        if variant in text and canonical not in text:
            text = text.replace(variant, canonical)
    return text


def terms(text: str) -> list[str]:
    """Search terms of ``text``: jieba words without stopwords, plus CJK character bigrams.

    Bigrams (prefixed ``~``) make the search tolerant of typos and of words jieba
    cuts differently. They are taken within runs of content words only, so the
    particles around a word ("那托位呢") add nothing.
    """
    words: list[str] = []
    bigrams: list[str] = []
    run = ""
    for token in [*_jieba().lcut(normalize(text)), " "]:
        if _KEEP.fullmatch(token) and token not in stopwords():
            words.append(token)
            if _CJK_RUN.fullmatch(token):
                run += token
                continue
        bigrams += ["~" + run[i : i + 2] for i in range(len(run) - 1)]
        run = ""
    return words + bigrams
