"""BM25 ranking over an inverted index, with a coverage measure for "good enough".

A ``SearchDoc`` is anything a resident's question can be matched against: an
FAQ entry (question and phrasings weigh more than the answer) or a sentence of
a clause. ``coverage`` is the share of the question's informative weight (IDF)
that the document matches; it tells a real match from a chance overlap.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowledge.text import terms

_YEAR = re.compile(r"20[1-3]\d")
YEAR_MISMATCH_FACTOR = 0.5


@dataclass(frozen=True)
class SearchDoc:
    ref: str  # "faq:12" | "passage:第9条#3"
    topics: frozenset[str]
    fields: tuple[tuple[str, float], ...]  # (text, weight); a term counts once per field


@dataclass(frozen=True)
class Hit:
    ref: str
    score: float
    coverage: float


def weighted_terms(doc: SearchDoc) -> Counter[str]:
    """Term -> weight for one document (a term counts once per field)."""
    weighted: Counter[str] = Counter()
    for text, weight in doc.fields:
        for term in set(terms(text)):
            weighted[term] += weight
    return weighted


class Bm25Index:
    def __init__(
        self,
        docs: Sequence[SearchDoc],
        *,
        vectors: Sequence[Counter[str]] | None = None,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        """``vectors``: the documents' ``weighted_terms`` if already computed (they are cached)."""
        self.docs = list(docs)
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        lengths = []
        for i, doc in enumerate(self.docs):
            weighted = vectors[i] if vectors is not None else weighted_terms(doc)
            for term, tf in weighted.items():
                self.postings[term].append((i, tf))
            lengths.append(sum(weighted.values()))
        self.lengths = lengths
        self.years = [frozenset(_YEAR.findall(" ".join(text for text, _ in doc.fields))) for doc in self.docs]
        self.avg_length = (sum(lengths) / len(lengths)) if lengths else 1.0
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)

    def search(self, text: str, *, topics: Iterable[str] | None = None, limit: int = 5) -> list[Hit]:
        """Best documents for ``text``, restricted to ``topics`` when given."""
        wanted = frozenset(topics) if topics is not None else None
        query = set(terms(text))
        total = sum(self.idf.get(t, self.unknown_idf) for t in query)
        if not total:
            return []
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, float] = defaultdict(float)
        for term in query:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i, tf in self.postings[term]:
                if wanted is not None and not (self.docs[i].topics & wanted):
                    continue
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg_length)
                scores[i] += idf * tf * (self.k1 + 1) / (tf + norm)
                matched[i] += idf
        asked_years = frozenset(_YEAR.findall(text))
        if asked_years:  # "到2025年…" is not answered by a 2022 target: other years only -> halved
            for i in scores:
                if self.years[i] and not (self.years[i] & asked_years):
                    scores[i] *= YEAR_MISMATCH_FACTOR
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:limit]
        return [Hit(self.docs[i].ref, scores[i], matched[i] / total) for i in best]
