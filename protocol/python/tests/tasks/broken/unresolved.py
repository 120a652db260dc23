"""Fails to load: it imports a name that does not exist."""
from os import no_such_name  # noqa: F401


def use_missing(ctx):
    ctx.write(b"unreachable")
