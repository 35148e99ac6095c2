"""A small JSON document in the data dir, replaced atomically on every change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def load_json(path: Path, empty: dict[str, Any]) -> dict[str, Any]:
    """The stored document, or `empty` when the file does not exist yet."""
    if not path.exists():
        return empty
    return json.loads(path.read_text())


def save_json(path: Path, doc: dict[str, Any]) -> None:
    """Write to a temporary file, fsync, then rename over the old one, so a crash leaves one or the other."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold password-type values
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
