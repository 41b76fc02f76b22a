"""Did-you-mean hints for unknown names in config and rule files (difflib, stdlib only).

Used by the loader for unknown keys, sources, event types, fields, notifiers and rule ids,
so every such error names the closest valid spelling when there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `word`, or None when nothing is similar enough."""
    pool = sorted({str(c) for c in candidates})
    matches = difflib.get_close_matches(str(word), pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean `x`?)` or, without a close match, the valid names if few."""
    pool = sorted({str(c) for c in candidates})
    match = closest(word, pool)
    if match is not None:
        return f" (did you mean `{match}`?)"
    if 0 < len(pool) <= 8:
        return "; expected one of: " + ", ".join(pool)
    return ""
