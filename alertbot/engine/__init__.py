"""The rule engine: rule models, condition compiler, index, lifecycle and timers.

`Engine` (in `core.py`) is the entry point the runtime, `replay` and the benchmarks use.
It is imported lazily so that `alertbot.engine.rules` (needed by `check` and `schema`)
stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Engine

__all__ = ["Engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .core import Engine

        return Engine
    raise AttributeError(name)
