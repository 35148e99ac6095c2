"""How many messages a bench produce run sends: compressed runs are longer, being faster."""

from __future__ import annotations

from bench.__main__ import messages_per_run, parse_args


def test_compressed_runs_default_to_three_times_the_messages() -> None:
    args = parse_args(["--messages", "1000"])
    assert [messages_per_run(args, codec) for codec in ("none", "lz4", "zstd")] == [1000, 3000, 3000]


def test_compressed_runs_take_their_own_count() -> None:
    args = parse_args(["--messages", "1000", "--compressed-messages", "50"])
    assert [messages_per_run(args, codec) for codec in ("none", "lz4")] == [1000, 50]
