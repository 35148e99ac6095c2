"""The console's parts that need no broker: how values are shown, where it listens, the lag
history, and the one-line hint when its libraries are missing."""

from __future__ import annotations

import asyncio
import decimal
import json
import subprocess
import sys

import click
import pytest

from kbroker.console.command import DEFAULT_HOST, console_address
from kbroker.console.context import human_bytes
from kbroker.console.decode import Decoded, decode, plain, wire_schema_id
from kbroker.console.lag import MAX_SERIES, LagHistory
from kbroker.console.records import MAX_SHOWN_BYTES, show


def test_values_as_text_json_and_hex() -> None:
    assert show(None, "text") is None
    assert show(b"caf\xc3\xa9", "text") == "café"
    assert show(b'{"a":[1,2]}', "json") == json.dumps({"a": [1, 2]}, indent=2)
    assert show(b"not json", "json") == "not json"
    assert show(b"\x00\xff", "hex") == "00 ff"
    assert show(b"\xff", "text") == "\ufffd"


def test_a_long_value_is_cut_and_not_parsed_as_json() -> None:
    big = b'"' + b"x" * MAX_SHOWN_BYTES + b'"'
    assert len(show(big, "json")) == MAX_SHOWN_BYTES
    assert len(show(big, "hex")) == MAX_SHOWN_BYTES * 3 - 1


@pytest.mark.parametrize("text,expected", [("9021", (DEFAULT_HOST, 9021)), (":9021", (DEFAULT_HOST, 9021)),
                                           ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:9021", ("::1", 9021))])
def test_console_address(text: str, expected: tuple[str, int]) -> None:
    assert console_address(text) == expected


@pytest.mark.parametrize("text", ["localhost", "host:99999", "host:"])
def test_bad_console_address(text: str) -> None:
    with pytest.raises(click.BadParameter):
        console_address(text)


def test_lag_history_keeps_the_window_and_the_largest_partitions() -> None:
    history = LagHistory(pool=None, window=60)  # type: ignore[arg-type]  # no sampling here
    history.record("g", {"t-0": 5}, at=1000.0)
    history.record("g", {f"t-{p}": p for p in range(MAX_SERIES + 3)}, at=1050.0)
    history.record("g", {"t-0": 1, "t-1": 2}, at=1070.0)  # the first sample is now older than the window
    chart = history.chart("g")
    assert chart["data"][0] == [1050.0, 1070.0]
    assert chart["data"][1] == [sum(range(MAX_SERIES + 3)), 3]
    assert chart["labels"][1:] == [f"t-{p}" for p in range(MAX_SERIES + 2, 2, -1)]
    assert history.chart("unknown") == {"labels": ["total"], "data": [[], []]}
    history.forget_stale(1200.0)
    assert history.chart("g")["data"][0] == []


@pytest.mark.parametrize("n,shown", [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                     (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 4, "3072.0 GiB")])
def test_sizes(n: int | None, shown: str) -> None:
    assert human_bytes(n) == shown


def test_missing_libraries_give_one_line() -> None:
    blocked = ("import sys; sys.modules['aiohttp'] = None; from kbroker.cli import main; "
               "main(['console', '--listen', '127.0.0.1:1'])")
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "kbroker: the web console needs aiohttp and jinja2: pip install 'kbroker[console]'"


def test_console_options_need_console() -> None:
    done = subprocess.run([sys.executable, "-m", "kbroker", "serve", "--console-write"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "--console-write, --console-registry-url and --console-config go with --console" in done.stderr


def test_wire_format_is_a_zero_byte_and_a_schema_id() -> None:
    assert wire_schema_id(b"\x00\x00\x00\x01\x00rest") == 256
    assert wire_schema_id(b"\x00\x00\x00\x01") is None  # too short for the header
    assert wire_schema_id(b"{}") is None and wire_schema_id(None) is None


def test_without_a_registry_wire_format_is_hex_saying_why() -> None:
    decoded = asyncio.run(decode(None, b"\x00\x00\x00\x00\x05ab"))
    assert decoded == Decoded("00 00 00 00 05 61 62", "schema id 5: no schema registry given")


def test_avro_values_json_cannot_write_become_text() -> None:
    assert json.loads(json.dumps({"b": b"\x01", "d": decimal.Decimal("1.50")}, default=plain)) == {"b": "AQ==", "d": "1.50"}


@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Origin": "http://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_write_from_an_opaque_or_foreign_origin_is_refused(headers: dict[str, str]) -> None:
    """A sandboxed frame or a data: page elsewhere posts with `Origin: null`: not the console's own page."""
    from aiohttp.test_utils import TestClient, TestServer

    from kbroker.console.app import build_app
    from kbroker.console.context import Console, templates
    from kbroker.console.pool import ClientPool

    async def post() -> int:
        pool = ClientPool("127.0.0.1:1", timeout=0.5)  # never reached: the guard answers first
        console = Console(pool, LagHistory(pool), templates(), True, None)
        async with TestClient(TestServer(build_app(console))) as client:
            response = await client.post("/topics/create", data={"name": "t"}, headers=headers)
            return response.status
    assert asyncio.run(post()) == 403
