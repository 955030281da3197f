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

# Function words and question words: they say nothing about what is asked.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嘛",
        "么",
        "是",
        "在",
        "有",
        "和",
        "与",
        "及",
        "或",
        "也",
        "都",
        "就",
        "还",
        "又",
        "很",
        "太",
        "要",
        "会",
        "能",
        "可以",
        "可不可以",
        "能不能",
        "会不会",
        "是不是",
        "有没有",
        "我",
        "我们",
        "我家",
        "你",
        "你们",
        "他",
        "她",
        "它",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "什么",
        "怎么",
        "怎么样",
        "怎样",
        "如何",
        "多少",
        "几",
        "哪",
        "哪些",
        "哪里",
        "为什么",
        "请问",
        "请",
        "问",
        "问下",
        "问一下",
        "一下",
        "想",
        "想问",
        "想知道",
        "知道",
        "告诉",
        "帮",
        "帮忙",
        "说",
        "讲",
        "给",
        "让",
        "把",
        "被",
        "对",
        "对于",
        "关于",
        "从",
        "到",
        "于",
        "为",
        "以",
        "等",
        "个",
        "些",
        "上",
        "下",
        "里",
        "中",
        "啊",
        "呃",
        "嗯",
        "哈",
        "?",
        "？",
        "杭州",
        "杭州市",
        "政府",
        "政策",
        "现在",
        "目前",
        "今年",
        "一个",
        "没有",
        "不",
        "没",
        "吗",
        "呗",
        "咋",
        "啥",
        "咋样",
        "晓得",
        "伐",
        "阿拉",
        "侬",
    ]
)


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


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), lower case, synonyms to canonical terms."""
    text = unicodedata.normalize("NFKC", text).lower()
    for variant, canonical in synonyms():
        if variant in text and canonical not in text:
            text = text.replace(variant, canonical)
    return text


def terms(text: str) -> list[str]:
    """Search terms of ``text``: jieba words without stopwords, plus CJK character bigrams.

    Bigrams (prefixed ``~``) make the search tolerant of typos and of words
    jieba cuts differently.
    """
    text = normalize(text)
    words = [w for w in _jieba().lcut(text) if _KEEP.fullmatch(w) and w not in STOPWORDS]
    bigrams = []
    for run in _CJK_RUN.findall(text):
        bigrams += ["~" + run[i : i + 2] for i in range(len(run) - 1)]
    return words + [b for b in bigrams if b[1:] not in STOPWORDS]
