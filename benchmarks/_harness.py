"""
What every benchmark shares: the workload description, the measurement, the loop
that keeps a fixed number of sends in flight, and running a client in a fresh
process.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sink import SinkProcess, SinkStats

__all__ = [
    "HUB_NAME",
    "RESULTS_DIRECTORY",
    "ROOT",
    "Measurement",
    "QuietGate",
    "Trial",
    "Workload",
    "drive",
    "drive_sync",
    "machine_description",
    "peak_rss_mb",
    "run_trials",
    "run_workers",
    "write_json",
]

HUB_NAME = "bench"
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIRECTORY = ROOT / "benchmarks" / "results"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# A worker that runs longer than its budget plus this has hung: fail loudly.
_WORKER_GRACE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Workload:
    """
    One client run: which client, where the sink is, and how hard to push.

    A run stops after `sends` sends or `budget_seconds`, whichever comes first, so
    slow clients finish in bounded time. `connections` None means the client's own
    default; `limiter` puts a semaphore of `connections` in front of raw clients.
    """

    client: str
    port: int
    ca_file: str
    sends: int = 5000
    in_flight: int = 64
    connections: int | None = None
    limiter: bool = False
    budget_seconds: float = 4.0
    warmup_sends: int = 300
    warmup_seconds: float = 1.0

    def to_json(self) -> str:
        """Serialize for the worker's command line."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        """The inverse of `to_json`."""
        return cls(**json.loads(text))

    @property
    def label(self) -> str:
        """A short readable name for tables: client, connections, limiter."""
        parts = [self.client]
        if self.connections is not None:
            parts.append(f"{self.connections}conn")

        if self.limiter:
            parts.append("limiter")

        return " ".join(parts)

    @classmethod
    def sample(cls, port: int, ca_file: str) -> Workload:
        """The synchronous sample-style client: one send at a time, briefly."""
        return cls(
            client="sample",
            port=port,
            ca_file=ca_file,
            sends=200,
            in_flight=1,
            budget_seconds=1.5,
            warmup_seconds=0.3,
        )


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one timed run in one process measured."""

    sends: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rss_before_run_mb: float

    @property
    def sends_per_second(self) -> float:
        """Throughput of the timed part."""
        return self.sends / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_send(self) -> float:
        """The client process's CPU time per send, in milliseconds."""
        return self.cpu_seconds / self.sends * 1000 if self.sends else 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return peak / divisor


async def drive(
    send: Callable[[], Awaitable[None]],
    *,
    in_flight: int,
    sends: int,
    budget_seconds: float,
) -> tuple[int, float]:
    """
    Keep `in_flight` sends going until `sends` started or the budget is spent.

    Returns the number of sends completed and the seconds they took. Any failed
    send fails the run: a benchmark that counts errors as sends would flatter.
    """
    started_count = 0
    started = time.perf_counter()
    deadline = started + budget_seconds

    async def sender() -> None:
        nonlocal started_count
        while started_count < sends and time.perf_counter() < deadline:
            started_count += 1
            await send()

    await asyncio.gather(*(sender() for _ in range(in_flight)))
    return started_count, time.perf_counter() - started


def drive_sync(
    send: Callable[[], None], *, sends: int, budget_seconds: float
) -> tuple[int, float]:
    """The synchronous, one-at-a-time version of `drive`."""
    count = 0
    started = time.perf_counter()
    deadline = started + budget_seconds
    while count < sends and time.perf_counter() < deadline:
        send()
        count += 1

    return count, time.perf_counter() - started


def run_workers(workloads: Sequence[Workload]) -> list[Measurement]:
    """
    Run each workload in a fresh Python process, all at the same time.

    Pass one workload to measure a client alone (the usual case); several only when
    the point is to load the sink from more than one process.
    """
    processes = [
        subprocess.Popen(
            _worker_command(workload),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=_worker_environment(workload),
        )
        for workload in workloads
    ]
    measurements = []
    for workload, process in zip(workloads, processes, strict=True):
        timeout = (
            workload.budget_seconds + workload.warmup_seconds + _WORKER_GRACE_SECONDS
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"{workload.label}: worker hung") from None

        if process.returncode != 0:
            tail = stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{workload.label}: worker failed:\n{tail}")

        fields_ = json.loads(stdout.decode().strip().splitlines()[-1])
        measurements.append(Measurement(**fields_))

    return measurements


def _worker_command(workload: Workload) -> list[str]:
    if workload.client == "js-sdk":
        # The official JavaScript SDK (_js.py installs it).
        return ["node", "benchmarks/js/worker.mjs", workload.to_json()]

    return [sys.executable, "-m", "benchmarks._worker", workload.to_json()]


def _worker_environment(workload: Workload) -> dict[str, str]:
    environment = dict(os.environ)
    if workload.client == "js-sdk":
        # Node.js trusts the sink's throwaway CA the way it trusts any private CA.
        environment["NODE_EXTRA_CA_CERTS"] = workload.ca_file

    return environment


@dataclass(slots=True)
class Trial:
    """
    Every repetition of one workload: the client's measurements and what the sink
    saw during each (connections opened, its own CPU).
    """

    workload: Workload
    measurements: list[Measurement] = field(default_factory=list)
    sink_deltas: list[SinkStats] = field(default_factory=list)
    other_load: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The workload's label."""
        return self.workload.label

    @property
    def sends_per_second(self) -> float:
        """The median throughput over repetitions."""
        return statistics.median(run.sends_per_second for run in self.measurements)

    @property
    def cpu_ms_per_send(self) -> float:
        """The median client CPU per send over repetitions."""
        return statistics.median(run.cpu_ms_per_send for run in self.measurements)

    @property
    def peak_rss_mb(self) -> float:
        """The largest peak RSS of any repetition (the whole process)."""
        return max(run.peak_rss_mb for run in self.measurements)

    @property
    def connections_opened(self) -> int:
        """The most connections the sink accepted during one repetition."""
        return max((delta.connections for delta in self.sink_deltas), default=0)

    @property
    def sink_cpu_us_per_request(self) -> float:
        """The sink's median CPU per request (includes TLS handshakes)."""
        values = [delta.cpu_microseconds_per_request for delta in self.sink_deltas]
        return statistics.median(values) if values else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, rounded for reading."""
        return {
            "label": self.label,
            "workload": {
                name: value
                for name, value in asdict(self.workload).items()
                if name not in ("port", "ca_file")
            },
            "sends_per_second": round(self.sends_per_second, 1),
            "cpu_ms_per_send": round(self.cpu_ms_per_send, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "connections_opened": self.connections_opened,
            "sink_cpu_us_per_request": round(self.sink_cpu_us_per_request, 1),
            "runs": [
                {
                    "other_load_cores": round(load, 2),
                    "sends": run.sends,
                    "seconds": round(run.seconds, 4),
                    "sends_per_second": round(run.sends_per_second, 1),
                    "cpu_ms_per_send": round(run.cpu_ms_per_send, 4),
                    "peak_rss_mb": round(run.peak_rss_mb, 1),
                    "rss_before_run_mb": round(run.rss_before_run_mb, 1),
                }
                for run, load in zip(self.measurements, self.other_load, strict=True)
            ],
        }


class QuietGate:
    """
    Wait, within a budget, for the machine to be idle before each run.

    Other work on a small machine (a test suite, a build) steals the cores the
    client and the sink need. Before each run the gate samples the machine's busy
    time and waits until less than `idle_threshold` of a core is in use, for at most
    `per_run_seconds`, and at most `total_seconds` over the whole benchmark. It
    also reports how many cores other processes used during each run.
    """

    def __init__(
        self,
        *,
        per_run_seconds: float = 10.0,
        total_seconds: float = 60.0,
        idle_threshold: float = 0.3,
    ) -> None:
        self._per_run = per_run_seconds
        self._remaining = total_seconds
        self._threshold = idle_threshold
        self.waited_seconds = 0.0

    def wait(self) -> None:
        """Return when the machine is quiet or this run's waiting budget is spent."""
        budget = min(self._per_run, self._remaining)
        interval = 0.25
        for _ in range(max(1, int(budget / interval))):
            busy_before, wall_before = _machine_busy_seconds(), time.perf_counter()
            time.sleep(interval)
            elapsed = time.perf_counter() - wall_before
            load = (_machine_busy_seconds() - busy_before) / elapsed
            self._remaining -= elapsed
            self.waited_seconds += elapsed
            if load < self._threshold or self._remaining <= 0:
                return


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (0 where /proc is missing)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return 0.0

    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_trials(
    sink: SinkProcess,
    workloads: Sequence[Workload],
    *,
    repetitions: int,
    gate: QuietGate | None = None,
    disturbed_threshold: float = 0.5,
    disturbed_retries: int = 2,
    progress: bool = True,
) -> list[Trial]:
    """
    Run every workload `repetitions` times, one process at a time.

    Repetitions go round-robin (all workloads once, then again), so a burst of
    load from elsewhere on the machine hits every client rather than one. A run
    during which other processes used more than `disturbed_threshold` cores is run
    again, at most `disturbed_retries` times, and the least disturbed attempt
    counts; each run records that load.
    """
    gate = gate or QuietGate()
    trials = [Trial(workload) for workload in workloads]
    for repetition in range(repetitions):
        for trial in trials:
            attempts = [_measure_once(sink, trial.workload, gate)]
            while (
                attempts[-1].other_load > disturbed_threshold
                and len(attempts) <= disturbed_retries
            ):
                attempts.append(_measure_once(sink, trial.workload, gate))

            attempt = min(attempts, key=lambda attempt: attempt.other_load)
            trial.measurements.append(attempt.measurement)
            trial.sink_deltas.append(attempt.sink_delta)
            trial.other_load.append(attempt.other_load)
            if progress:
                print(
                    f"  [{repetition + 1}/{repetitions}] {trial.label:34} "
                    f"{attempt.measurement.sends_per_second:8.1f} sends/s "
                    f"{attempt.measurement.cpu_ms_per_send:7.3f} ms CPU/send "
                    f"(other load {attempt.other_load:.2f} cores, "
                    f"{len(attempts)} attempt(s))",
                    file=sys.stderr,
                    flush=True,
                )

    return trials


@dataclass(frozen=True, slots=True)
class _Attempt:
    measurement: Measurement
    sink_delta: SinkStats
    other_load: float


def _measure_once(sink: SinkProcess, workload: Workload, gate: QuietGate) -> _Attempt:
    gate.wait()
    before = sink.stats()
    busy_before = _machine_busy_seconds()
    children_before = _children_cpu_seconds()
    parent_before = time.process_time()
    started = time.perf_counter()
    (measurement,) = run_workers([workload])
    elapsed = time.perf_counter() - started
    delta = sink.stats() - before
    # Everything the machine did meanwhile, minus the worker, the sink and us.
    ours = (
        _children_cpu_seconds()
        - children_before
        + time.process_time()
        - parent_before
        + delta.cpu_seconds
    )
    other = max(0.0, _machine_busy_seconds() - busy_before - ours) / elapsed
    return _Attempt(measurement, delta, other)


def machine_description() -> dict[str, Any]:
    """Where the numbers came from."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(value, 2) for value in load],
        "versions": _library_versions(),
    }


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("httpx", "httpcore", "aiohttp", "httpx-aiohttp", "anyio"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"

    # The JavaScript baseline, when it is installed (benchmarks/_js.py).
    sdk = ROOT / "benchmarks/js/node_modules/@azure/notification-hubs/package.json"
    if sdk.is_file():
        versions["@azure/notification-hubs"] = json.loads(sdk.read_text())["version"]
        node = shutil.which("node")
        if node is not None:
            versions["node"] = subprocess.run(
                [node, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()

    return versions


def write_json(name: str, document: dict[str, Any]) -> Path:
    """Write results to `benchmarks/results/<name>` atomically; return the path."""
    RESULTS_DIRECTORY.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIRECTORY / name
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)
    return path
