"""docs/compatibility.md lists exactly the APIs and versions the broker serves."""

import re
from pathlib import Path

from kbroker.handlers import HANDLERS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
ROW = re.compile(r"^\| (\d+) \| \w+ \| (\d+)(?:-(\d+))? \|", re.MULTILINE)


def test_table_matches_the_dispatch_table():
    listed = {int(key): (int(low), int(high or low)) for key, low, high in ROW.findall(PAGE.read_text())}
    served = {h.api_key: (h.min_version, h.max_version) for h in HANDLERS.values()}
    assert listed == served
