"""Coverage-guided fuzzing of request decoding with atheris; run by hand, not by pytest.

    .venv/bin/pip install atheris
    .venv/bin/python tests/protocol/fuzz_requests.py -atheris_runs=200000
    .venv/bin/python tests/protocol/fuzz_requests.py -max_total_time=300 corpus/

Any exception other than kproto.ProtocolError is a bug, and so is a ProtocolError without a
message; atheris stops and writes the input that caused it. Inputs are request frames (what
follows the 4-byte size): the first two bytes pick a real api key and version, so the fuzzer
spends its time inside message bodies rather than in the header check.
"""

from __future__ import annotations

import struct
import sys

import atheris

with atheris.instrument_imports():
    from kproto import ProtocolError, decode_request, messages
    from kproto.protocol import request_class

KEYS = sorted(messages.APIS)


def steer(data: bytes) -> bytes:
    """Rewrite the api key and version of a frame to ones that exist, chosen by the input."""
    if len(data) < 4:
        return data
    key = KEYS[data[0] % len(KEYS)]
    low, high = request_class(key).SPEC.versions
    version = low + data[1] % (high - low + 1)
    return struct.pack(">hh", key, version) + data[4:]


def one_input(data: bytes) -> None:
    try:
        decode_request(steer(data))
    except ProtocolError as exc:
        if not str(exc):
            raise AssertionError("ProtocolError without a message") from exc


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
