"""The handlers of the `cxpulse` commands, one module per group of commands.

`cxpulse/cli.py` builds the parser: it registers each handler under its command name, in the order
`cxpulse --help` lists them. A handler's signature declares its options (typer); its body parses and
checks what it was given, calls the function that does the work (in `cxpulse.pipeline`,
`streams.*`, `warehouse.*`, ...) and prints the outcome. The helpers every handler shares (the
settings, the consoles, the exit codes) are in `cxpulse.commands.common`.

To add a command: write its handler in a module of its own here, then register it with one line in
`cxpulse/cli.py`.
"""
