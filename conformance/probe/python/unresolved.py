"""A module that cannot be loaded: importing it raises ImportError, as the
dynamic loader refuses conformance/shadow/unresolved_module.cpp for a symbol
nothing defines (ISO-7; docs/probe.md)."""

from os import execkit_conformance_symbol_nobody_defines


def use_missing(ctx):
    """Never runs: the module does not load."""
    ctx.write(str(execkit_conformance_symbol_nobody_defines).encode())
