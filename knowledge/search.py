"""BM25 ranking over an inverted index, with a coverage measure for "good enough".

A ``SearchDoc`` is anything a resident's question can be matched against: an
FAQ entry (question and phrasings weigh more than the answer) or a sentence of
a clause. ``coverage`` is the share of the question's informative weight (IDF)
that the document matches; it tells a real match from a chance overlap.

Built for tens of thousands of documents in plain Python (issue 6, measured by
``bench/ranking.py``), with the same hits and scores as scoring every document
(up to the last bits of a sum, which is added up in another order; checked by
``tests/test_ranking_equivalence.py``):

- a word and the bigrams inside it ("萧山区", "~萧山", "~山区") occur together,
  so their BM25 contributions are added up per document once, kept per topic
  filter and reused by every later question with that word;
- a search adds up the words with the largest possible contribution first; once
  the documents not seen yet could not reach the top ``limit`` even with every
  remaining word, it only completes the scores of the documents it has, and
  drops those that can no longer make it;
- ``update`` adds and removes documents in place, so a staff edit re-indexes one
  entry. Every contribution depends on the document count and average length, so
  an update recomputes the recently used ones (within ``REWARM_SECONDS``) and the
  rest when next needed.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from itertools import islice, repeat
from operator import mul

from knowledge.text import terms

_YEAR = re.compile(r"20[1-3]\d")
_DIGITS = re.compile(r"(\d+)")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
YEAR_MISMATCH_FACTOR = 0.5
# Bounds are compared with this relative margin, so that rounding in a sum never prunes
# a document whose exact score would have tied or beaten the threshold.
_SAFETY = 1 + 1e-9
# Summed contributions kept for reuse, at most (about 65 bytes each), least recently used dropped first.
CACHE_MAX_ENTRIES = 2_000_000
# After an update, the most recently used contributions are recomputed for at most this long.
REWARM_SECONDS = 0.2

_Key = tuple[tuple[str, ...], frozenset[str] | None]
# Summed contributions of a group of terms, the largest one, and the slots of the largest few.
_Weights = tuple[dict[int, float], float, list[int]]
_LEADERS = 24


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


def _ref_order(ref: str) -> tuple:
    """Equal scores are ranked by reference, numbers compared as numbers (faq:9 before faq:10)."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(ref))


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
        self.k1, self.b = k1, b
        # Documents live in slots; a removed document leaves an empty slot behind.
        self._docs: list[SearchDoc | None] = []
        self._vectors: list[Counter[str] | None] = []
        self._lengths: list[float] = []
        self._years: list[frozenset[str]] = []
        self._topics: list[frozenset[str]] = []
        self._order: list[tuple] = []
        self._slot: dict[str, int] = {}
        # term -> weighted term frequency -> slots (a handful of frequencies: sums of field weights)
        self._postings: dict[str, dict[float, set[int]]] = {}
        self._by_topic: dict[str, set[int]] = {}
        self._weights: dict[_Key, _Weights] = {}  # least recently used first
        self._cached_entries = 0
        self._dated: set[int] = set()  # slots of documents that name a year
        self._by_year: dict[str, set[int]] = {}
        self._year_mismatch: dict[frozenset[str], frozenset[int]] = {}
        self._add(docs, vectors if vectors is not None else [weighted_terms(doc) for doc in docs])
        self._refresh_statistics()

    # -- building ------------------------------------------------------------
    @property
    def docs(self) -> list[SearchDoc]:
        return [doc for doc in self._docs if doc is not None]

    def __len__(self) -> int:
        return self._n

    @property
    def cached_contributions(self) -> int:
        """Summed contributions kept for reuse (at most ``CACHE_MAX_ENTRIES``)."""
        return self._cached_entries

    @property
    def slack(self) -> int:
        """Slots left empty by removed documents."""
        return len(self._docs) - self._n

    def get(self, ref: str) -> SearchDoc | None:
        slot = self._slot.get(ref)
        return None if slot is None else self._docs[slot]

    @property
    def term_count(self) -> int:
        return len(self._postings)

    @property
    def posting_count(self) -> int:
        return sum(len(slots) for by_tf in self._postings.values() for slots in by_tf.values())

    def update(
        self,
        *,
        remove: Iterable[str] = (),
        add: Sequence[SearchDoc] = (),
        vectors: Sequence[Counter[str]] | None = None,
    ) -> None:
        """Remove the documents with refs ``remove``, then add ``add``: the index is then the
        same as one built from the resulting documents (a re-added ref replaces the old one)."""
        for ref in [*remove, *(doc.ref for doc in add)]:
            slot = self._slot.pop(ref, None)
            if slot is None:
                continue
            vector = self._vectors[slot]
            assert vector is not None
            for term, tf in vector.items():
                by_tf = self._postings[term]
                by_tf[tf].discard(slot)
                if not by_tf[tf]:
                    del by_tf[tf]
                    if not by_tf:
                        del self._postings[term]
            for topic in self._topics[slot]:
                self._by_topic[topic].discard(slot)
            for year in self._years[slot]:
                self._by_year[year].discard(slot)
            self._dated.discard(slot)
            self._docs[slot] = self._vectors[slot] = None
            self._lengths[slot] = 0.0
            self._topics[slot] = self._years[slot] = frozenset()
        self._add(add, vectors if vectors is not None else [weighted_terms(doc) for doc in add])
        self._refresh_statistics()

    def _add(self, docs: Sequence[SearchDoc], vectors: Sequence[Counter[str]]) -> None:
        postings = self._postings
        for doc, weighted in zip(docs, vectors, strict=True):
            slot = len(self._docs)
            self._slot[doc.ref] = slot
            self._docs.append(doc)
            self._vectors.append(weighted)
            self._lengths.append(sum(weighted.values()))
            years = frozenset(_YEAR.findall(" ".join(text for text, _ in doc.fields)))
            self._years.append(years)
            if years:
                self._dated.add(slot)
            for year in years:
                self._by_year.setdefault(year, set()).add(slot)
            self._topics.append(doc.topics)
            for topic in doc.topics:
                self._by_topic.setdefault(topic, set()).add(slot)
            self._order.append(_ref_order(doc.ref))
            for term, tf in weighted.items():
                by_tf = postings.get(term)
                if by_tf is None:
                    postings[term] = {tf: {slot}}
                elif tf in by_tf:
                    by_tf[tf].add(slot)
                else:
                    by_tf[tf] = {slot}

    def _refresh_statistics(self) -> None:
        live = [length for doc, length in zip(self._docs, self._lengths, strict=True) if doc is not None]
        self._n = len(live)
        # Lengths are sums of field weights; fsum makes the average independent of slot order.
        self.avg_length = (math.fsum(live) / len(live)) if live else 1.0
        k1, b, avg = self.k1, self.b, self.avg_length
        self._norms = [k1 * (1 - b + b * length / avg) for length in self._lengths]
        self._saturation: dict[float, list[float]] = {}  # tf -> [tf * (k1 + 1) / (tf + norm) per slot]
        self.unknown_idf = math.log(1 + (self._n + 0.5) / 0.5)
        self._year_mismatch = {}
        self._topic_slots: dict[frozenset[str], frozenset[int]] = {}
        # Every contribution depends on the count and the average length: recompute the
        # most recently used ones now, the others when next needed.
        used, self._weights, self._cached_entries = list(self._weights), {}, 0
        deadline = time.perf_counter() + REWARM_SECONDS
        rewarmed = []
        for key in reversed(used):
            if time.perf_counter() > deadline:
                break
            rewarmed.append((key, self._summed(*key)))
        for key, value in reversed(rewarmed):
            self._remember(key, value)

    def _penalized(self, asked_years: frozenset[str]) -> frozenset[int]:
        """Slots of the documents that name a year, but none of ``asked_years``."""
        if not asked_years:
            return frozenset()
        cached = self._year_mismatch.get(asked_years)
        if cached is None:
            cached = frozenset(self._dated.difference(*(self._by_year.get(year, ()) for year in asked_years)))
            self._year_mismatch[asked_years] = cached
        return cached

    def document_frequency(self, term: str) -> int:
        by_tf = self._postings.get(term)
        return sum(map(len, by_tf.values())) if by_tf else 0

    def together(self, term: str, others: Iterable[str]) -> bool:
        """Some document uses ``term`` and at least one of ``others``."""
        with_term = self._slots_with(term)
        return any(with_term & self._slots_with(other) for other in others)

    def _slots_with(self, term: str) -> set[int]:
        by_tf = self._postings.get(term)
        return set().union(*by_tf.values()) if by_tf else set()

    def idf(self, term: str) -> float | None:
        by_tf = self._postings.get(term)
        if by_tf is None:
            return None
        df = sum(map(len, by_tf.values()))
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5))

    def _slots_in(self, wanted: frozenset[str]) -> frozenset[int]:
        slots = self._topic_slots.get(wanted)
        if slots is None:
            slots = frozenset().union(*(self._by_topic.get(topic, ()) for topic in wanted))
            self._topic_slots[wanted] = slots
        return slots

    def _contributions(self, term: str, wanted: frozenset[str] | None) -> dict[int, float]:
        """{slot: BM25 contribution of ``term``} within ``wanted`` topics: idf times the
        saturation tf * (k1 + 1) / (tf + norm), which depends only on tf and the document."""
        idf = self.idf(term)
        if idf is None:
            return {}
        within = self._slots_in(wanted) if wanted is not None else None
        contributions: dict[int, float] = {}
        for tf, slots in self._postings[term].items():
            saturation = self._saturation.get(tf)
            if saturation is None:
                k1_plus_1 = self.k1 + 1
                saturation = self._saturation[tf] = [tf * k1_plus_1 / (tf + norm) for norm in self._norms]
            if within is not None:
                slots = slots & within
            contributions.update(zip(slots, map(mul, repeat(idf), map(saturation.__getitem__, slots)), strict=True))
        return contributions

    def _summed(self, group: tuple[str, ...], wanted: frozenset[str] | None) -> _Weights:
        """{slot: summed contribution of the terms in ``group``} within ``wanted`` topics, the largest,
        and the slots with the largest ones."""
        summed = self._contributions(group[0], wanted)
        for term in group[1:]:
            get = summed.get
            for slot, weight in self._contributions(term, wanted).items():
                summed[slot] = get(slot, 0.0) + weight
        leaders = heapq.nlargest(_LEADERS, summed, key=summed.__getitem__)
        return summed, (summed[leaders[0]] if leaders else 0.0), leaders

    def _remember(self, key: _Key, value: _Weights) -> None:
        self._weights[key] = value
        self._cached_entries += len(value[0])
        while self._cached_entries > CACHE_MAX_ENTRIES and len(self._weights) > 1:
            oldest = next(iter(self._weights))
            self._cached_entries -= len(self._weights.pop(oldest)[0])

    def _group_weights(self, group: tuple[str, ...], wanted: frozenset[str] | None) -> _Weights:
        key = (group, wanted)
        cached = self._weights.pop(key, None)
        if cached is None:
            cached = self._summed(group, wanted)
            self._remember(key, cached)
        else:
            self._weights[key] = cached  # now the most recently used
        return cached

    @staticmethod
    def _groups(ordered: list[str]) -> list[tuple[str, ...]]:
        """The query's terms (``terms()`` order: words, then bigrams) in groups that occur together:
        the words of one run of content words and the bigrams of that run ("萧山区大概" -> 萧山区, 大概,
        ~萧山, ~山区, ~区大, ~大概). Their contributions are added up once per document."""
        bigrams = {term for term in ordered if term.startswith("~")}
        runs: list[list[str]] = []
        for word in (term for term in ordered if not term.startswith("~")):
            previous = runs[-1][-1] if runs else ""
            if (
                previous
                and _CJK.fullmatch(word)
                and _CJK.fullmatch(previous)
                and f"~{previous[-1]}{word[0]}" in bigrams
            ):
                runs[-1].append(word)
            else:
                runs.append([word])
        claimed: set[str] = set()
        groups = []
        for run in runs:
            text = "".join(run)
            members = [
                term
                for term in dict.fromkeys([*run, *(f"~{text[i : i + 2]}" for i in range(len(text) - 1))])
                if term not in claimed and (not term.startswith("~") or term in bigrams)
            ]
            claimed.update(members)
            if members:
                groups.append(tuple(members))
        groups.extend((term,) for term in dict.fromkeys(ordered) if term not in claimed)
        return groups

    @staticmethod
    def _first_floor(lists: list, limit: int, penalized: frozenset[int]) -> float:
        """The limit-th best final score of a few documents (0 if fewer than ``limit``): those with the
        largest contributions of the two heaviest groups and some that have most of the words.
        A start for pruning before any score is summed."""
        sample: set[int] = set()
        for _, _, _, leaders in lists[:2]:
            sample.update(leaders)
        if len(lists) > 1:
            by_size = sorted(lists, key=lambda item: len(item[2]))
            common: Set[int] = by_size[0][2].keys()
            shared = 1
            for _, _, contributions, _ in by_size[1:]:
                narrower = common & contributions.keys()
                if len(narrower) < limit:
                    break
                common, shared = narrower, shared + 1
            if shared > 1:
                sample.update(islice(common, 4 * limit))
        if len(sample) < limit:
            return 0.0
        finals = []
        for slot in sample:
            score = 0.0
            for _, _, contributions, _ in lists:  # the order every score is summed in
                weight = contributions.get(slot)
                if weight is not None:
                    score += weight
            finals.append(score * YEAR_MISMATCH_FACTOR if slot in penalized else score)
        return heapq.nlargest(limit, finals)[-1]

    # -- searching -----------------------------------------------------------
    def search(
        self,
        text: str,
        *,
        topics: Iterable[str] | None = None,
        limit: int = 5,
        query_terms: Iterable[str] | None = None,
    ) -> list[Hit]:
        """Best documents for ``text``, restricted to ``topics`` when given.

        ``query_terms``: ``terms(text)`` if the caller has them already.
        """
        wanted = frozenset(topics) if topics is not None else None
        ordered = list(terms(text) if query_terms is None else query_terms)
        query = sorted(set(ordered))
        idfs = {term: self.idf(term) for term in query}
        total = sum(self.unknown_idf if idf is None else idf for idf in idfs.values())
        if not total or limit <= 0:
            return []
        lists = []
        for group in self._groups([term for term in ordered if idfs[term] is not None]):
            contributions, largest, leaders = self._group_weights(group, wanted)
            if contributions:
                lists.append((largest, group, contributions, leaders))
        # Largest possible contribution first; each document's score is summed in this order.
        lists.sort(key=lambda item: (-item[0], item[1]))
        rest = [0.0] * (len(lists) + 1)  # rest[j]: the most that terms j… can still add
        for j in range(len(lists) - 1, -1, -1):
            rest[j] = rest[j + 1] + lists[j][0]
        # "到2025年…" is not answered by a 2022 target: documents naming other years only are halved.
        penalized = self._penalized(frozenset(_YEAR.findall(text)))

        def threshold(scores: dict[int, float], j: int) -> float:
            """A score that at least ``limit`` documents reach or beat in the end: the limit-th best
            final score of the documents leading after terms 0…j-1 (completed with terms j…)."""
            lead = heapq.nlargest(limit, scores.values())[-1]
            leaders = [slot for slot, s in scores.items() if s >= lead]
            finals = []
            for slot in leaders[: 2 * limit]:
                score = scores[slot]
                for _, _, contributions, _ in lists[j:]:
                    weight = contributions.get(slot)
                    if weight is not None:
                        score += weight
                finals.append(score * YEAR_MISMATCH_FACTOR if slot in penalized else score)
            return heapq.nlargest(limit, finals)[-1]

        scores: dict[int, float] = {}
        floor = self._first_floor(lists, limit, penalized)  # a score at least ``limit`` documents reach
        j = 0
        while j < len(lists):  # every document that has the term
            contributions = lists[j][2]
            if len(scores) >= limit and len(contributions) > len(scores) and rest[j] * _SAFETY >= floor:
                floor = max(floor, threshold(scores, j))  # a long list ahead: worth a closer floor
            if scores and rest[j] * _SAFETY < floor:
                break  # a document not seen yet cannot reach the top any more
            if not scores:
                scores = dict(contributions)
            elif len(contributions) > 2 * len(scores):  # mostly new documents: copy them in C, then add the rest
                earlier = [(slot, scores[slot]) for slot in scores.keys() & contributions.keys()]
                scores.update(contributions)
                for slot, score in earlier:
                    scores[slot] = score + scores[slot]
            else:
                get = scores.get
                for slot, weight in contributions.items():
                    scores[slot] = get(slot, 0.0) + weight
            j += 1
        if j < len(lists):  # complete the scores of the documents already seen
            pruned_at = math.inf
            for k in range(j, len(lists)):
                if len(scores) > 4 * limit and rest[k] < 0.7 * pruned_at:
                    # drop those that cannot reach the top even with every remaining term
                    cutoff = floor / _SAFETY - rest[k]
                    hopeless = [slot for slot, s in scores.items() if s < cutoff]
                    if 2 * len(hopeless) > len(scores):
                        scores = {slot: s for slot, s in scores.items() if s >= cutoff}
                    else:
                        for slot in hopeless:
                            del scores[slot]
                    pruned_at = rest[k]
                contributions = lists[k][2]
                for slot in scores.keys() & contributions.keys():
                    scores[slot] += contributions[slot]
        if len(scores) > 4 * limit and floor > 0:  # a final score is at most the score before the year factor
            scores = {slot: s for slot, s in scores.items() if s >= floor / _SAFETY}
        if penalized:
            for slot in penalized.intersection(scores):
                scores[slot] *= YEAR_MISMATCH_FACTOR
        if len(scores) > 4 * limit:  # every document scoring at least the limit-th best; equal scores included
            floor = heapq.nlargest(limit, scores.values())[-1]
            candidates = [slot for slot, s in scores.items() if s >= floor]
        else:
            candidates = list(scores)
        order = self._order
        best = sorted(candidates, key=lambda slot: (-scores[slot], order[slot]))[:limit]
        hits = []
        for slot in best:
            vector = self._vectors[slot]
            assert vector is not None
            matched = sum(idfs[term] for term in query if term in vector)  # type: ignore[misc]
            doc = self._docs[slot]
            assert doc is not None
            hits.append(Hit(doc.ref, scores[slot], matched / total))
        return hits
