"""The backend's configuration (CONFIG-1, docs/configuration.md): the
`configure` message's `config` object, checked and completed."""
import dataclasses
import json
import os
import re
import secrets
import socket

from execkit_outcomes import ConfigError

__all__ = ["WorkerConfig", "parse_config", "resolve_spill_dir", "caller_environment", "DEFAULT_ENV_WHITELIST",
           "DEFAULT_ENV_PREFIXES"]

DEFAULT_ENV_WHITELIST = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"})
DEFAULT_ENV_PREFIXES = ("EXECKIT_",)
_POOL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    max_workers: int = 1
    idle_timeout_ms: int = 300_000
    spill_dir: str = ""          # resolved: absolute, '..' resolved lexically
    env_whitelist: frozenset = DEFAULT_ENV_WHITELIST
    env_prefixes: tuple = DEFAULT_ENV_PREFIXES
    enable_pdeathsig: bool = True
    pool_id: str = ""            # completed: never empty
    node_id: str = ""            # completed: the host name when empty
    base_dir: str = ""           # completed: the backend process's cwd when empty
    max_result_bytes: int = 16 << 30
    stderr_tail_bytes: int = 8192
    # The opened spill dir (execkit_spill.SpillDir), set by the protocol loop.
    spill: object = dataclasses.field(default=None, compare=False, repr=False)

    def passes(self, name):
        """Whether a variable of the caller's environment may reach tasks (ENV-1, ENV-3)."""
        return name in self.env_whitelist or any(prefix and name.startswith(prefix) for prefix in self.env_prefixes)

    def base_environment(self, environ):
        """The allowed part of `environ` plus EXECKIT_NODE_ID; tasks start from this."""
        env = {name: value for name, value in environ.items() if self.passes(name)}
        env["EXECKIT_NODE_ID"] = self.node_id
        return env


def caller_environment():
    """The environment the harness started this process with: its initial
    block, not os.environ, to which Python adds LC_CTYPE=C.UTF-8 when it
    coerces a C locale (PEP 538). Without the protocol's descriptor number."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return {k: v for k, v in os.environ.items() if k != "EXECKIT_PROTOCOL_FD"}
    env = {}
    for entry in entries:
        name, sep, value = entry.partition(b"=")
        if sep and name:
            env.setdefault(os.fsdecode(name), os.fsdecode(value))
    env.pop("EXECKIT_PROTOCOL_FD", None)
    return env


def resolve_spill_dir(configured, environ, cwd):
    """SPILL-3: empty means $TMPDIR/execkit-<euid>; '..' is resolved
    lexically (canonicalising would follow a symlink planted at the dir)."""
    path = configured or os.path.join(environ.get("TMPDIR") or "/tmp", f"execkit-{os.geteuid()}")
    path = os.path.normpath(os.path.join(cwd, path))
    return "/" + path.lstrip("/")  # POSIX lets normpath keep a leading '//'


class _Reader:
    def __init__(self, config):
        self.config = config

    def get(self, name, kind, default):
        if name not in self.config:
            return default
        value = self.config[name]
        ok = isinstance(value, bool) if kind is bool else (
            isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, kind))
        if kind is list:
            ok = ok and all(isinstance(item, str) for item in value)
        if not ok:
            expected = {bool: "true or false", int: "an integer", str: "a string", list: "an array of strings"}[kind]
            raise ConfigError(name, json.dumps(value), f"{name} must be {expected}")
        return value


def parse_config(config, environ, cwd):
    """A checked, completed WorkerConfig. Missing members take the defaults
    (as the C++ harness's decoder does); a bad value is a ConfigError naming
    the setting and the value, never replaced by a default."""
    if not isinstance(config, dict):
        raise ConfigError("config", json.dumps(config), "the configuration must be a JSON object")
    r = _Reader(config)
    d = WorkerConfig()
    max_workers = r.get("max_workers", int, d.max_workers)
    if max_workers < 1:
        raise ConfigError("max_workers", max_workers, "max_workers must be at least 1")
    idle_timeout_ms = r.get("idle_timeout_ms", int, d.idle_timeout_ms)
    if idle_timeout_ms <= 0:
        raise ConfigError("idle_timeout", f"{idle_timeout_ms}ms", "idle_timeout must be positive")
    spill_dir = r.get("spill_dir", str, "")
    if "\0" in spill_dir:
        raise ConfigError("spill_dir", spill_dir, "a path cannot hold a NUL byte")
    pool_id = r.get("pool_id", str, "") or secrets.token_hex(6)
    if not _POOL_ID.fullmatch(pool_id):
        raise ConfigError("pool_id", pool_id, "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
    base_dir = r.get("base_dir", str, "")
    if "\0" in base_dir:
        raise ConfigError("base_dir", base_dir, "a path cannot hold a NUL byte")
    max_result_bytes = r.get("max_result_bytes", int, d.max_result_bytes)
    stderr_tail_bytes = r.get("stderr_tail_bytes", int, d.stderr_tail_bytes)
    for name, value in (("max_result_bytes", max_result_bytes), ("stderr_tail_bytes", stderr_tail_bytes)):
        if value < 0:
            raise ConfigError(name, value, f"{name} cannot be negative")
    return WorkerConfig(
        max_workers=max_workers,
        idle_timeout_ms=idle_timeout_ms,
        spill_dir=resolve_spill_dir(spill_dir, environ, cwd),
        env_whitelist=frozenset(r.get("env_whitelist", list, sorted(d.env_whitelist))),
        env_prefixes=tuple(r.get("env_prefixes", list, list(d.env_prefixes))),
        enable_pdeathsig=r.get("enable_pdeathsig", bool, d.enable_pdeathsig),
        pool_id=pool_id,
        node_id=r.get("node_id", str, "") or socket.gethostname(),
        base_dir=os.path.normpath(os.path.join(cwd, base_dir)) if base_dir else cwd,
        max_result_bytes=max_result_bytes,
        stderr_tail_bytes=stderr_tail_bytes,
    )
