"""Traditional → simplified characters and full-width folding: the first thing done to a
resident's message, in the channels (so NLU and the stored conversation see simplified text)
and again in the action server (``knowledge.text.normalize``) for any other path.

OpenCC's maintained conversion tables ship inside the ``opencc`` wheel: nothing is downloaded.
Standard library and opencc only, so the Rasa image can copy this file alone.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1)
def _traditional_to_simplified():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def traditional_to_simplified(text: str) -> str:
    """Only the characters: "託育機構" -> "托育机构"; punctuation and everything else as typed.
    A lone surrogate (not a character; the channels drop them) is dropped here too."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = "".join(c for c in text if not "\ud800" <= c <= "\udfff")
    return _traditional_to_simplified().convert(text)


def simplified(text: str) -> str:
    """Traditional characters as simplified ("託育" -> "托育", "戶口" -> "户口"), full-width
    letters, digits and punctuation as ASCII (NFKC). Residents on traditional input methods are
    answered like everyone else; replies stay simplified."""
    return unicodedata.normalize("NFKC", traditional_to_simplified(text))
