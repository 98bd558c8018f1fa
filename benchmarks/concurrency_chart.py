"""
Sends/s against the number of sends in flight, for every client, as an SVG chart.

    python -m benchmarks.concurrency_chart              # measure, then draw
    python -m benchmarks.concurrency_chart --quick      # fewer points
    python -m benchmarks.concurrency_chart --redraw     # draw from the last JSON

Each line is one fixed client configuration; only the number of sends in flight
changes. The measurements go to `benchmarks/results/concurrency.json` and the
chart to `docs/performance-concurrency.svg`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from notifhub_async._client import DEFAULT_MAX_CONNECTIONS

from ._harness import (
    RESULTS_DIRECTORY,
    ROOT,
    QuietGate,
    Workload,
    machine_description,
    run_trials,
    write_json,
)
from ._js import JS_CLIENT, ensure_js_sdk
from ._svg import Series, line_chart
from .sink import SinkProcess

__all__ = ["CHART_PATH", "LINES", "main"]

CHART_PATH = ROOT / "docs" / "performance-concurrency.svg"
CONCURRENCY = (1, 4, 16, 64, 256)
CONCURRENCY_QUICK = (1, 16, 64)
# (legend, client, connections, limiter): one fixed configuration per line.
LINES: tuple[tuple[str, str, int | None, bool], ...] = (
    ("notifhub-async, aiohttp transport", "ours-aiohttp", None, False),
    ("notifhub-async, default transport", "ours", None, False),
    ("raw aiohttp, 64 connections", "aiohttp", 64, False),
    ("httpx + AiohttpTransport", "httpx-aiohttp", DEFAULT_MAX_CONNECTIONS, True),
    (
        f"raw httpx, {DEFAULT_MAX_CONNECTIONS} one-connection lanes",
        "httpx-sharded",
        DEFAULT_MAX_CONNECTIONS,
        True,
    ),
    ("raw httpx, 1 connection + limiter", "httpx", 1, True),
    ("raw httpx, 64 connections", "httpx", 64, False),
    # Measured only where Node.js and npm are at hand (benchmarks/_js.py).
    ("official JavaScript SDK", JS_CLIENT, None, False),
)
_SAMPLE_LEGEND = "sample-style, new TLS per send"


def measure(*, quick: bool, repetitions: int) -> dict[str, Any]:
    """Run every line at every concurrency; return the JSON document."""
    levels = CONCURRENCY_QUICK if quick else CONCURRENCY
    started = time.perf_counter()
    js_missing = ensure_js_sdk()
    if js_missing is not None:
        print(f"the official JavaScript SDK is left out: {js_missing}", file=sys.stderr)

    measured = [line for line in LINES if js_missing is None or line[1] != JS_CLIENT]
    machine = machine_description()
    with SinkProcess() as sink:
        workloads = [
            Workload(
                client=client,
                port=sink.port,
                ca_file=sink.ca_file,
                sends=20_000,
                in_flight=level,
                connections=connections,
                limiter=limiter,
                budget_seconds=1.0 if quick else 1.5,
                warmup_seconds=0.5 if quick else 0.8,
            )
            for _, client, connections, limiter in measured
            for level in levels
        ]
        workloads.append(Workload.sample(sink.port, sink.ca_file))
        trials = run_trials(
            sink,
            workloads,
            repetitions=repetitions,
            gate=QuietGate(total_seconds=10 if quick else 60),
            disturbed_retries=0 if quick else 1,
        )

    lines: list[dict[str, Any]] = []
    for legend, client, connections, limiter in measured:
        points = [
            [trial.workload.in_flight, round(trial.sends_per_second, 1)]
            for trial in trials
            if (trial.workload.client, trial.workload.connections)
            == (client, connections)
            and trial.workload.limiter == limiter
        ]
        lines.append(
            {
                "name": legend,
                "client": client,
                "connections": connections,
                "limiter": limiter,
                "points": points,
            }
        )

    sample = [trial for trial in trials if trial.workload.client == "sample"]
    lines.append(
        {
            "name": _SAMPLE_LEGEND,
            "client": "sample",
            "connections": None,
            "limiter": False,
            "points": [[1, round(sample[0].sends_per_second, 1)]],
        }
    )
    return {
        "benchmark": "concurrency",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "repetitions": repetitions,
        "quick": quick,
        "default_max_connections": DEFAULT_MAX_CONNECTIONS,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "lines": lines,
        "runs": [trial.as_dict() for trial in trials],
    }


def draw(document: dict[str, Any]) -> str:
    """The SVG chart for a measurement document."""
    series = [
        Series(
            name=line["name"],
            points=[(float(x), float(y)) for x, y in line["points"]],
            emphasis=line["client"].startswith("ours"),
            # The unlimited raw httpx pool is the setup to avoid: draw it dashed.
            dashed=line["client"] == "httpx" and not line["limiter"],
        )
        for line in document["lines"]
    ]
    machine = document["machine"]
    date = document["date"][:10]
    return line_chart(
        series,
        x_ticks=CONCURRENCY,
        title="Sends per second against sends in flight (loopback HTTPS)",
        subtitle=(
            f"{machine['cpus']} CPUs, Python {machine['python']}, {date}; "
            f"notifhub-async max_connections={document['default_max_connections']}"
        ),
        x_label="sends in flight (log scale)",
        y_label="sends per second",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure (unless --redraw) and write the chart."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency_chart")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument(
        "--redraw", action="store_true", help="draw from the last measurements"
    )
    arguments = parser.parse_args(argv)
    data_path = RESULTS_DIRECTORY / "concurrency.json"
    if arguments.redraw:
        document = json.loads(data_path.read_text())
    else:
        document = measure(quick=arguments.quick, repetitions=arguments.repetitions)
        write_json(data_path.name, document)

    CHART_PATH.write_text(draw(document))
    for line in document["lines"]:
        values = ", ".join(f"{x}: {y:.0f}" for x, y in line["points"])
        print(f"{line['name']:40} {values}")

    print(f"wrote {CHART_PATH.relative_to(ROOT)} and {data_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
