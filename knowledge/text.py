"""Chinese text to search terms: normalisation, the vocabulary, jieba words and bigrams.

The jieba tokenizer is created on first use with the project's user
dictionaries (``data/dicts/*.txt``), the same ones Rasa's JiebaTokenizer loads.

The vocabulary (everyday words residents use -> the plan's terms, "杭户" -> "落户") is
staff data kept in the knowledge base (``vocabulary_terms``, knowledge.vocabulary). This
module holds the process-wide current list: ``normalize()`` replaces its variants, and
its words are in jieba's dictionary so that segmentation keeps them whole. The answer
engine loads the list from the database and installs it with ``set_vocabulary()`` when
it changes; until then (a script, a test without a database) it is the seed file
``knowledge/synonyms.yml``, which the build copies into the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.chinese import simplified
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
    _added_words.clear()  # those were another tokenizer's
    _put_words_in(tokenizer, vocabulary())
    return tokenizer


Pairs = tuple[tuple[str, str], ...]  # (variant, canonical), longest variant first


def _ordered(pairs: Iterable[tuple[str, str]]) -> Pairs:
    """Longest variant first ("加装升降机" before "升降机"), then by variant: one order for one list."""
    return tuple(sorted(set(pairs), key=lambda p: (-len(p[0]), p)))


SEED_FILE = KNOWLEDGE_DIR / "synonyms.yml"


class _OneLinePerTerm(yaml.SafeLoader):
    """A term written twice would keep only its last line's words, silently: an error instead."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"规范词“{key}”写了两行，后一行会盖掉前一行：请合并成一行", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_seed_file(path: Path = SEED_FILE) -> list[tuple[str, str]]:
    """(variant, canonical) pairs of a seed file (``canonical: [variants]``), in file order, as written."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_OneLinePerTerm) or {}
    if not isinstance(data, dict) or not all(isinstance(variants, list) for variants in data.values()):
        raise ValueError("每一行应为“规范词: [常用说法, …]”")
    return [(str(variant), str(canonical)) for canonical, variants in data.items() for variant in variants]


@lru_cache(maxsize=1)
def seed_vocabulary() -> Pairs:
    """The seed file's pairs (knowledge/synonyms.yml): the vocabulary before one is loaded from the database."""
    return _ordered(read_seed_file())


_current: Pairs | None = None  # None: the seed file's list
# Words the vocabulary put in jieba's dictionary: word -> (frequency before, frequency added).
_added_words: dict[str, tuple[int, int]] = {}


def vocabulary() -> Pairs:
    """The current (variant, canonical) pairs, longest variant first."""
    return seed_vocabulary() if _current is None else _current


def set_vocabulary(pairs: Iterable[tuple[str, str]]) -> Pairs:
    """Make ``pairs`` the current vocabulary of this process (normalize(), terms(), jieba).

    Returns the list as installed (ordered). Passing that result back costs nothing, so a
    caller can make sure of its list on every request.
    """
    global _current
    if _current is not None and isinstance(pairs, tuple) and (pairs is _current or pairs == _current):
        _current = pairs  # the same list (another engine's copy of it): nothing to install
        return pairs
    ordered = _ordered(pairs)
    changed = ordered != vocabulary()
    _current = ordered
    if changed and _jieba.cache_info().currsize:  # otherwise the tokenizer takes the words when it is created
        _put_words_in(_jieba(), ordered)
    return ordered


def _put_words_in(tokenizer, pairs: Pairs) -> None:  # type: ignore[no-untyped-def]
    """jieba's dictionary as loaded from data/dicts plus the words of ``pairs``.

    The words of the previous list are taken out first (their frequencies as before), and the
    new ones added in a fixed order, so the dictionary depends on the list, not on its history.
    ``add_word`` gives a word at least the frequency that keeps it whole.
    """
    for word, (before, added) in _added_words.items():
        tokenizer.FREQ[word] = before
        tokenizer.total -= added
    _added_words.clear()
    for word in sorted({w for pair in pairs for w in pair}):
        before = tokenizer.FREQ.get(word, 0)
        tokenizer.add_word(word)
        _added_words[word] = (before, tokenizer.FREQ[word])


def normalize(text: str) -> str:
    """Simplified characters, NFKC (full-width digits and letters to ASCII), lower case,
    the vocabulary's everyday words to the plan's terms."""
    text = simplified(text).lower()
    for variant, canonical in vocabulary():
        # Every occurrence, also beside the canonical term ("看娃的地方…托育"): an unmapped
        # everyday word would dilute the match. A variant inside its own canonical term
        # ("托儿" in a canonical "托儿所") is replaced only where the term is absent.
        if variant in text and (variant not in canonical or canonical not in text):
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
