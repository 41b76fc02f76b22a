"""SOURCES: the registry of source kinds (kind name → SourceKind declaration).

Adding a source = one module declaring `KIND` + one line here + its tests + its block
in the example config. The built-in `alertbot` source is always present under the name
`alertbot` without configuration.
"""

from __future__ import annotations

from . import chia, kakitu, kaspa, kraken, selfwatch
from .base import SourceKind

SOURCES: dict[str, SourceKind] = {
    k.kind: k for k in (kraken.KIND, kakitu.KIND, chia.KIND, kaspa.KIND, selfwatch.KIND)
}

BUILTIN_SOURCE_NAME = "alertbot"
