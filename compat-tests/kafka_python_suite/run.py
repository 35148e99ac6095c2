"""Run kafka-python's own integration tests (from its 3.0.12 sdist) against a broker, and check the
outcome of every test against a list of expected failures.

Why this way: the sdist's `test/integration` is the client authors' idea of what a broker must do,
and it runs unchanged against an external broker when KAFKA_URI and KAFKA_VERSION are set. The sdist
lacks `test/__init__.py` and `test/service.py`; ours are in shim/. The tests import the installed
kafka-python wheel, never the sdist's own `kafka/` folder, which is not even extracted.

    python compat-tests/kafka_python_suite/run.py                      # start kbroker, run, check
    COMPAT_BROKER=tansu python compat-tests/kafka_python_suite/run.py  # the same against Tansu
    python compat-tests/kafka_python_suite/run.py --bootstrap 127.0.0.1:9092 --expected none

Exit status: 0 when every outcome is the expected one, 1 when some test failed unexpectedly,
passed unexpectedly, or a listed test did not run, 2 when the run itself could not happen.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COMPAT = HERE.parent
sys.path.insert(0, str(COMPAT))

from brokerproc import BrokerProcess, broker_kind  # noqa: E402

VERSION = "3.0.12"
SDIST = f"kafka_python-{VERSION}.tar.gz"
SDIST_SHA256 = "4ccda3616b9aa5c353d74a97f2770d6cd1b950890d77ab0e8890e09a48eeed65"
CACHE = COMPAT / ".cache"
FLAKY = HERE / "flaky.txt"  # tests run once more, alone, when they fail: each with the client race behind it
LEFT_OUT = ("test/integration/test_ssl_integration.py",)  # always starts its own JVM broker
# Its SASL tests skip themselves against an external broker: they run on their own, with a plugin.
SASL_TESTS = "test/integration/test_sasl_integration.py"
SASL_PLUGIN = "kbroker_sasl_plugin"
SASL_LISTENERS_ENV = "COMPAT_SUITE_LISTENERS"
# The suite's SASL user, for every mechanism its SASL tests try.
SASL_USER, SASL_PASSWORD = "alice", "alice-secret"
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# What the suite's own broker fixture (kafka-python's servers/resources kafka.properties) sets:
# broker id 0, 4 partitions, short session timeouts allowed, 2 offsets partitions, and an
# advertised listener given explicitly.
BROKER_CONFIG = {
    "num.partitions": "4",
    "node.id": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "2",
    "advertised.listeners": "PLAINTEXT://127.0.0.1:{port}",
}
# The API set kbroker advertises is Kafka 4.0's (the message definitions it is built from).
DEFAULT_KAFKA_VERSION = "4.0.0"
FAILED = ("failed", "error")


def expected_file_for(kind: str) -> Path:
    """kbroker's list is expected_failures.txt; a reference broker has its own beside it."""
    return HERE / ("expected_failures.txt" if kind in ("kbroker", "external") else f"expected_failures.{kind}.txt")


def fetch_sdist(cache: Path = CACHE) -> Path:
    """The sdist from the cache, or from PyPI through pip the first time; checked against its hash."""
    target = cache / "sdist" / SDIST
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                        f"kafka-python=={VERSION}", "--dest", str(target.parent)], check=True, timeout=300)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{target}: sha256 {digest}, expected {SDIST_SHA256}; delete it to fetch again")
    return target


def prepare_tree(sdist: Path, workdir: Path) -> Path:
    """Extract only the sdist's test/ folder into `workdir`, add our two files and an empty KAFKA_ROOT."""
    tree = workdir / f"kafka-python-{VERSION}-tests"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    prefix = f"kafka_python-{VERSION}/"
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            if m.name.startswith(prefix + "test/") and (m.isfile() or m.isdir()):
                m.name = m.name[len(prefix):]
                members.append(m)
        tar.extractall(tree, members=members, filter="data")
    shutil.copy(HERE / "shim" / "__init__.py", tree / "test" / "__init__.py")
    shutil.copy(HERE / "shim" / "service.py", tree / "test" / "service.py")
    (tree / "kafka-root").mkdir()
    # An ini file of ours, so the sdist's pytest settings (thread timeouts, DEBUG logs) stay out.
    (tree / "pytest.ini").write_text("[pytest]\nlog_level = INFO\n")
    return tree


@dataclass
class Expected:
    """Tests expected to fail (or listed as flaky), each with the reason someone gave and, for a
    flaky one, the failure it is known to show: `<test id>  /<regex on the failure's message>/  # <reason>`."""
    reasons: dict[str, str] = field(default_factory=dict)
    signatures: dict[str, re.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> "Expected":
        if path is None:
            return cls()
        found = cls()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.match(r"^(\S+)(?:\s+/(.+?)/)?\s+#\s*(\S.*)$", line.strip())
            if not m:
                raise ValueError(f"{path}:{n}: expected '<test id>  [/<failure regex>/]  # <reason>', got {line!r}")
            found.reasons[m.group(1)] = m.group(3)
            if m.group(2):
                found.signatures[m.group(1)] = re.compile(m.group(2))
        return found

    def known_failure(self, test: str, message: str) -> bool:
        """Whether `test` is listed and failed the way its entry says it does (no signature: never)."""
        signature = self.signatures.get(test)
        return signature is not None and signature.search(message) is not None


def node_id(tree: Path, classname: str, name: str) -> str:
    """pytest's node id from a JUnit testcase: the longest dotted prefix that is a file is the module."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (tree / path).is_file():
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def read_junit(tree: Path, junit: Path) -> dict[str, tuple[str, str]]:
    """node id -> (outcome, first line of the message) for every test in the report."""
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (el.get("message") or el.text or "").strip().splitlines()[0:1]
                message = message[0][:200] if message else ""
                break
        nid = node_id(tree, case.get("classname", ""), case.get("name", ""))
        # A teardown error arrives as a second testcase with the same id: the worse outcome wins.
        if nid not in results or outcome in FAILED:
            results[nid] = (outcome, message)
    return results


@dataclass
class Verdict:
    results: dict[str, tuple[str, str]]
    expected: Expected
    partial: bool = False  # part of the suite was selected: listed tests may rightly not have run
    reran: dict[str, str] = field(default_factory=dict)  # flaky tests run again: their first failure
    flaky: Expected = field(default_factory=Expected)  # the tests listed as flaky, checked for staleness too
    rerun_log: Path | None = None

    @property
    def unexpected_failures(self) -> list[str]:
        return [t for t, (o, _) in self.results.items() if o in FAILED and t not in self.expected.reasons]

    @property
    def unexpected_passes(self) -> list[str]:
        return [t for t, (o, _) in self.results.items() if o == "passed" and t in self.expected.reasons]

    @property
    def not_run(self) -> list[str]:
        listed = [*self.expected.reasons, *self.flaky.reasons]
        return [] if self.partial else [t for t in listed if t not in self.results]

    @property
    def ok(self) -> bool:
        return not (self.unexpected_failures or self.unexpected_passes or self.not_run)

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for outcome, _ in self.results.values():
            counts[outcome] += 1
        return counts

    def report(self) -> str:
        c = self.counts()
        lines = [f"kafka-python {VERSION} integration suite: {len(self.results)} tests: {c['passed']} passed, "
                 f"{c['failed']} failed, {c['error']} errors, {c['skipped']} skipped; "
                 f"{len(self.expected.reasons)} listed as expected failures"]
        for title, tests in (("UNEXPECTED FAILURE", self.unexpected_failures),
                             ("UNEXPECTED PASS (remove it from the list)", self.unexpected_passes),
                             ("LISTED BUT NOT RUN (stale entry)", self.not_run)):
            for t in tests:
                detail = self.results.get(t, ("", ""))[1] or self.expected.reasons.get(t) or self.flaky.reasons.get(t, "")
                lines.append(f"  {title}: {t}  -- {detail}")
        for t, first in self.reran.items():
            lines.append(f"  FAILED, SO RUN AGAIN (listed as flaky), then {self.results[t][0]}: {t}  -- {first}"
                         f" (rerun output: {self.rerun_log})")
        lines.append("outcome: as expected" if self.ok else "outcome: NOT as expected")
        return "\n".join(lines)


def run_suite(bootstrap: str, workdir: Path, kafka_version: str = DEFAULT_KAFKA_VERSION,
              per_test_timeout: int = 120, total_timeout: int = 2400, select: str | None = None,
              log: Path | None = None, sasl_listener: str | None = None,
              tests: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """Run the suite in a pytest subprocess against `bootstrap`; returns the per-test outcomes.
    With `sasl_listener` (host:port of a SASL_PLAINTEXT listener), only its SASL tests run, through
    shim/kbroker_sasl_plugin.py; else with `tests` (node ids), only those."""
    if tests is not None and sasl_listener is not None:
        raise ValueError("tests are chosen by node id only without a SASL listener")
    tree = prepare_tree(fetch_sdist(), workdir)
    junit = workdir / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KAFKA_"))}
    env.update(KAFKA_VERSION=kafka_version, KAFKA_ROOT=str(tree / "kafka-root"), PYTHONDONTWRITEBYTECODE="1")
    argv = [sys.executable, "-m", "pytest", "-c", str(tree / "pytest.ini"), "--rootdir", str(tree),
            "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rN", "--timeout", str(per_test_timeout),
            "--timeout-method=signal", f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    if sasl_listener is None:
        env["KAFKA_URI"] = f"tcp://{bootstrap}"
        argv += tests if tests is not None else ["test/integration", *(f"--ignore={p}" for p in LEFT_OUT)]
    else:
        shutil.copy(HERE / "shim" / f"{SASL_PLUGIN}.py", tree / f"{SASL_PLUGIN}.py")
        env[SASL_LISTENERS_ENV] = f"PLAINTEXT={bootstrap},SASL_PLAINTEXT={sasl_listener}"
        argv += [SASL_TESTS, "-p", SASL_PLUGIN]
    if select:
        argv += ["-k", select]
    junit.unlink(missing_ok=True)  # a report left by an earlier run in the same folder is not this one's
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        subprocess.run(argv, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=total_timeout)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if not junit.exists():
        raise RuntimeError(f"the suite wrote no JUnit report; see {log}")
    return read_junit(tree, junit)


@dataclass
class Outcomes:
    """Each test's outcome, and the first failure of each flaky test that was run again."""
    results: dict[str, tuple[str, str]]
    reran: dict[str, str] = field(default_factory=dict)
    rerun_log: Path | None = None


def rerun_timeout(per_test_timeout: int, tests: int) -> int:
    """Seconds allowed for running `tests` flaky tests again: each its own limit, and a minute to start."""
    return per_test_timeout * tests + 60


def run_with_reruns(bootstrap: str, workdir: Path, flaky: Expected, log: Path, **options: Any) -> Outcomes:
    """The whole suite, then the tests listed as flaky that failed as their entry says once more,
    alone, in a fresh tree: their second outcome counts (any other failure stands). The first failures are kept, for the report. A rerun that cannot
    finish leaves them failed (an error, saying why) and the rest of the first run's outcomes stand."""
    results = run_suite(bootstrap, workdir, log=log, **options)
    failed = [t for t, (outcome, message) in results.items() if outcome in FAILED and flaky.known_failure(t, message)]
    if not failed:
        return Outcomes(results)
    rerun_log = log.with_name(f"rerun-{log.name}")
    options = {**options, "select": None,
               "total_timeout": rerun_timeout(options.get("per_test_timeout", 120), len(failed))}
    try:
        again = run_suite(bootstrap, workdir / "rerun", log=rerun_log, tests=failed, **options)
        why = "did not run again"
    except (subprocess.TimeoutExpired, RuntimeError, OSError) as exc:
        again, why = {}, f"the rerun did not finish: {exc}"
    first = {t: results[t][1] for t in failed}
    results.update({t: again.get(t, ("error", why)) for t in failed})
    return Outcomes(results, first, rerun_log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", choices=("kbroker", "tansu"), default=None,
                        help="broker to start (default: COMPAT_BROKER, else kbroker)")
    parser.add_argument("--bootstrap", help="use this running broker (host:port) instead of starting one")
    parser.add_argument("--kafka-version", default=os.environ.get("COMPAT_KAFKA_VERSION", DEFAULT_KAFKA_VERSION),
                        help="KAFKA_VERSION the suite is told the broker is (default %(default)s)")
    parser.add_argument("--expected", help="expected-failures file, or 'none' (default: the broker's own list)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test (default %(default)s)")
    parser.add_argument("--total-timeout", type=int, default=2400, help="seconds for the whole run")
    parser.add_argument("-k", dest="select", help="pytest -k expression, to run part of the suite")
    parser.add_argument("--workdir", help="where the tree, report and logs go (default: a fresh temp dir)")
    parser.add_argument("--fetch-only", action="store_true", help="only download the sdist into the cache")
    args = parser.parse_args(argv)

    if args.fetch_only:
        print(fetch_sdist())
        return 0
    kind = "external" if args.bootstrap else (args.broker or broker_kind())
    expected_path = None if args.expected == "none" else Path(args.expected) if args.expected else expected_file_for(kind)
    expected = Expected.load(expected_path if expected_path is None or expected_path.exists() else None)
    flaky = Expected.load(FLAKY)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kafka-python-suite-"))
    workdir.mkdir(parents=True, exist_ok=True)
    broker = None
    try:
        if args.bootstrap:
            bootstrap = args.bootstrap
        else:
            broker = BrokerProcess(workdir / "broker", BROKER_CONFIG, kind=kind).start()
            bootstrap = broker.bootstrap_server
        print(f"running the suite against {kind} at {bootstrap}; expected failures: {expected_path}; "
              f"log in {workdir / 'suite.log'}", flush=True)
        outcomes = run_with_reruns(bootstrap, workdir, flaky, workdir / "suite.log",
                                   kafka_version=args.kafka_version, per_test_timeout=args.timeout,
                                   total_timeout=args.total_timeout, select=args.select)
    except Exception as exc:  # the run itself failed: say why, with the broker's last words
        print(f"kafka-python suite could not run: {exc}", file=sys.stderr)
        if broker is not None:
            print(broker.log_tail(), file=sys.stderr)
        return 2
    finally:
        if broker is not None:
            broker.stop()
    verdict = Verdict(outcomes.results, expected, partial=bool(args.select), reran=outcomes.reran,
                      flaky=flaky, rerun_log=outcomes.rerun_log)
    print(verdict.report())
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
