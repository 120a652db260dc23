"""Same module name as shadow_b/shadow.py, another file (ISO-3, ISO-7)."""
calls = 0


def variant(ctx):
    ctx.write(b"a")


def state(ctx):
    global calls
    calls += 1
    ctx.write(f"a:{calls}".encode())
