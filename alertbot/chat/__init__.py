"""Chat commands over Telegram (`commands: true` on a telegram notifier).

`run_all_commands(config.notifiers, control, stop=event)` is what the service starts;
`run_commands` serves one notifier. Commands reach the service only through
`alertbot.control.ServiceControl`.
"""

from __future__ import annotations

from .bot import run_all_commands, run_commands

__all__ = ["run_all_commands", "run_commands"]
