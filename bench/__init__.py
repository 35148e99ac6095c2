"""Benchmarks of kbroker against reference brokers, run on demand with `python -m bench` and its siblings.

The benches start brokers with the compat-tests' harness (`brokerproc`), put on the path here once.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "compat-tests"))
