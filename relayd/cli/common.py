"""Config resolution shared by the subcommands."""

from __future__ import annotations

import sys
from pathlib import Path

from relayd.config import Config, ConfigError, find_config_file, load_config

EMBEDDED_STATE = Path("var")


def resolve_config(explicit: str | None) -> tuple[Config, bool]:
    """The config to use and whether it is the embedded default (no file found).

    Exits with status 2 and one clear line when the file is bad.
    """
    path = find_config_file(explicit)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"relayd: bad configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if path is not None:
        return config, False
    embedded = config.model_copy(deep=True)
    if embedded.storage.path == Config().storage.path:
        embedded.storage.path = str(EMBEDDED_STATE / "relayd.db")
    if embedded.server.host == Config().server.host:
        embedded.server.host = "127.0.0.1"
    return embedded, True
