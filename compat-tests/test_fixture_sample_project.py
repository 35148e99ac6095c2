"""kbroker's test fixtures as a project uses them: its own pytest run, with pytest's own exit status.

sample_project/ is a small application with tests written against the installed `kafka_broker`
fixtures and `KBroker`; it runs in a pytest process of its own, as in that project's CI. A second
project whose tests fail inside the broker's scope checks that no broker process outlives them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pids import alive

SAMPLE = Path(__file__).parent / "sample_project"
RUN_TIMEOUT = 240  # seconds for a whole nested pytest run; it takes about 30 on a busy 2-core machine


def run_pytest(project: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """pytest in `project` as its rootdir: its pytest.ini applies and compat-tests' conftest does not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | extra_env
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                           "--rootdir", str(project), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def test_sample_project_suite_passes() -> None:
    result = run_pytest(SAMPLE, "-q")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "9 passed" in result.stdout, result.stdout[-2000:]


FAILING_PROJECT = '''
import os
from pathlib import Path

from kbroker.testing import KBroker

RECORD = Path(os.environ["BROKER_RECORD"])


def note(broker):
    with RECORD.open("a") as fh:
        fh.write(f"{broker.pid} {broker.data_dir}\\n")


def test_fails_inside_the_with_block():
    with KBroker(topics={"orders": 2}) as kafka:
        note(kafka)
        assert kafka.bootstrap_server == "somewhere else"


def test_fails_with_the_function_fixture(kafka_broker_function):
    note(kafka_broker_function)
    raise RuntimeError("the code under test broke")


def test_errors_with_the_session_fixture(kafka_broker):
    note(kafka_broker)
    1 / 0
'''


def run_project(root: Path, ini: str, tests: str) -> tuple[subprocess.CompletedProcess[str], list[tuple[int, Path]]]:
    """A throwaway project of one test file, run by a pytest of its own; with the (pid, data dir) lines
    its tests wrote to the file named by BROKER_RECORD."""
    project = root / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(f"[pytest]\n{ini}")
    (project / "test_project.py").write_text(textwrap.dedent(tests))
    record = root / "brokers.txt"
    result = run_pytest(project, "-q", BROKER_RECORD=str(record))
    noted = [line.split(" ", 1) for line in record.read_text().splitlines()] if record.exists() else []
    return result, [(int(pid), Path(data_dir)) for pid, data_dir in noted]


def assert_gone(noted: list[tuple[int, Path]]) -> None:
    for pid, data_dir in noted:
        assert not alive(pid), f"process {pid} outlived the test run"
        assert not data_dir.exists(), f"{data_dir} left behind"


def test_failing_tests_leave_no_broker_behind(tmp_path: Path) -> None:
    result, brokers = run_project(tmp_path, "", FAILING_PROJECT)
    assert result.returncode == 1, result.stdout[-4000:]
    assert "3 failed" in result.stdout, result.stdout[-4000:]
    assert len(brokers) == 3
    assert_gone(brokers)


def test_keep_data_option_keeps_and_lists_the_data(tmp_path: Path) -> None:
    project = tmp_path / "keeping"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nkbroker_topics = kept:2\n")
    (project / "test_keep.py").write_text(textwrap.dedent('''
        def test_produce(kafka_broker):
            producer = kafka_broker.producer()
            producer.produce("kept", b"still here")
            assert producer.flush(10) == 0
    '''))
    result = run_pytest(project, "-q", "--kbroker-keep-data", "--kbroker-config", "log.segment.bytes=1048576",
                        "--basetemp", str(tmp_path / "base"))
    assert result.returncode == 0, result.stdout[-4000:]
    kept = result.stdout.split("kbroker data kept", 1)[1].splitlines()[1].strip()
    assert (Path(kept) / "meta.properties").is_file()
    assert sorted(p.name for p in Path(kept).glob("kept-*")) == ["kept-0", "kept-1"]
