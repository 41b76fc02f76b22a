"""One module per CLI command; each exposes `add_arguments(parser)` and `run(args) -> int`.

`cli.py` imports a command's module only when that command runs, so `alertbot check`
never pays for python-telegram-bot or websockets imports.
"""
