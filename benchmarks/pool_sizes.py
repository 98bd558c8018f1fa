"""
Choose DEFAULT_MAX_CONNECTIONS: the default httpx transport at each pool size.

    python -m benchmarks.pool_sizes                    # about 6 minutes
    python -m benchmarks.pool_sizes --repetitions 2    # medians, about 12 minutes
    python -m benchmarks.pool_sizes --quick            # about a minute

For max_connections (and so max_concurrency) in 1..64 it measures sends/s and CPU
per send with 64 and 256 sends in flight, on loopback (no latency) and with the
sink holding every answer for 20 ms, as a WAN round trip to Azure would. Loopback
rewards few connections (httpcore's pool does work per connection on every
request); latency needs enough connections to keep requests in flight. The value
recommended is the one whose worst regime is closest to that regime's best.

Two layouts are measured: our client as it is (N lanes, each a one-connection
httpx transport, see notifhub_async/_lanes.py), and for reference raw httpx with
one shared pool of N connections behind a limiter of N (the layout before lanes).
Results go to `benchmarks/results/pool_sizes.json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from notifhub_async._client import DEFAULT_MAX_CONNECTIONS

from ._harness import (
    ROOT,
    QuietGate,
    Trial,
    Workload,
    machine_description,
    run_trials,
)
from ._harness import write_json as write_results
from .sink import SinkProcess

__all__ = ["Regime", "main", "recommend"]

POOL_SIZES = (1, 2, 4, 8, 16, 32, 64)
POOL_SIZES_QUICK = (1, 4, 16)
# (name in the results, client): our client, then the shared-pool reference.
LAYOUTS = (("ours", "ours"), ("shared-pool", "httpx"))
IN_FLIGHT = (64, 256)
LATENCIES_MS = (0.0, 20.0)


@dataclass(frozen=True, slots=True)
class Regime:
    """One column of the table: a sink latency and a number of sends in flight."""

    latency_ms: float
    in_flight: int

    @property
    def name(self) -> str:
        """A short column title."""
        place = "loopback" if self.latency_ms == 0 else f"+{self.latency_ms:.0f} ms"
        return f"{place}, {self.in_flight} in flight"


def recommend(
    rates: dict[Regime, dict[int, float]],
) -> tuple[int, dict[int, float]]:
    """
    The pool size whose worst regime is the closest to that regime's best.

    Returns the size and, for every size, its worst fraction of a regime's best
    (1.0 means best everywhere). Ties go to the smaller pool: fewer connections
    cost the service and the client less.
    """
    sizes = sorted({size for by_size in rates.values() for size in by_size})
    worst: dict[int, float] = {}
    for size in sizes:
        fractions = [
            by_size[size] / max(by_size.values())
            for by_size in rates.values()
            if size in by_size
        ]
        worst[size] = min(fractions)

    best_score = max(worst.values())
    chosen = min(size for size in sizes if worst[size] >= best_score - 1e-9)
    return chosen, worst


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep, print the tables and the recommendations."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pool_sizes")
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="max_connections values to measure"
    )
    parser.add_argument(
        "--latencies",
        type=float,
        nargs="+",
        help=f"sink latencies in ms (default: {' '.join(map(str, LATENCIES_MS))})",
    )
    parser.add_argument("--output", default="pool_sizes.json")
    parser.add_argument(
        "--layout",
        choices=[name for name, _ in LAYOUTS],
        action="append",
        help="measure only this layout (repeatable; default: all)",
    )
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    repetitions = arguments.repetitions or 1
    layouts = [
        (name, client)
        for name, client in LAYOUTS
        if not arguments.layout or name in arguments.layout
    ]
    sizes = arguments.sizes or (POOL_SIZES_QUICK if quick else POOL_SIZES)
    latencies = arguments.latencies or LATENCIES_MS
    gate = QuietGate(total_seconds=10 if quick else 60)

    started = time.perf_counter()
    machine = machine_description()
    trials: dict[str, dict[Regime, dict[int, Trial]]] = {}
    for latency in latencies:
        with SinkProcess(latency_ms=latency) as sink:
            workloads = [
                Workload(
                    client=client,
                    port=sink.port,
                    ca_file=sink.ca_file,
                    sends=20_000,
                    in_flight=in_flight,
                    connections=size,
                    limiter=True,
                    budget_seconds=1.0 if quick else 1.5,
                    warmup_seconds=0.5 if quick else 0.6,
                )
                for _, client in layouts
                for in_flight in IN_FLIGHT
                for size in sizes
            ]
            print(f"sink latency {latency:.0f} ms", file=sys.stderr, flush=True)
            for trial in run_trials(
                sink,
                workloads,
                repetitions=repetitions,
                gate=gate,
                disturbed_retries=0 if quick else 1,
            ):
                layout = next(n for n, c in layouts if c == trial.workload.client)
                regime = Regime(latency, trial.workload.in_flight)
                size = trial.workload.connections or DEFAULT_MAX_CONNECTIONS
                trials.setdefault(layout, {}).setdefault(regime, {})[size] = trial

    elapsed = time.perf_counter() - started
    document: dict[str, object] = {
        "benchmark": "pool_sizes",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "repetitions": repetitions,
        "quick": quick,
        "elapsed_seconds": round(elapsed, 1),
        "current_default": DEFAULT_MAX_CONNECTIONS,
    }
    for layout, by_regime in trials.items():
        rates = {
            regime: {size: trial.sends_per_second for size, trial in by_size.items()}
            for regime, by_size in by_regime.items()
        }
        chosen, worst = recommend(rates)
        print()
        print(f"layout: {_LAYOUT_TITLES[layout]}")
        print(_format_table(by_regime, worst))
        print(
            f"recommended max_connections = {chosen}: at worst {worst[chosen]:.0%} "
            "of the best rate in every regime"
        )
        document[layout] = {
            "recommended": chosen,
            "worst_fraction_of_best": {
                str(size): round(value, 3) for size, value in worst.items()
            },
            "regimes": [
                {
                    "latency_ms": regime.latency_ms,
                    "in_flight": regime.in_flight,
                    "by_max_connections": {
                        str(size): trial.as_dict() for size, trial in by_size.items()
                    },
                }
                for regime, by_size in by_regime.items()
            ],
        }

    path = write_results(arguments.output, document)
    print(f"\ncurrent DEFAULT_MAX_CONNECTIONS = {DEFAULT_MAX_CONNECTIONS}")
    print(f"wrote {path.relative_to(ROOT)} in {elapsed:.0f} s")
    return 0


_LAYOUT_TITLES = {
    "ours": "notifhub-async, default transport (N one-connection lanes)",
    "shared-pool": "reference: raw httpx, one pool of N connections + limiter of N",
}


def _format_table(
    trials: dict[Regime, dict[int, Trial]], worst: dict[int, float]
) -> str:
    regimes = list(trials)
    header = f"{'max_connections':>15} " + " ".join(
        f"{regime.name:>28}" for regime in regimes
    )
    units = f"{'':>15} " + " ".join(f"{'sends/s  CPU ms/send':>28}" for _ in regimes)
    lines = [header, units + "   worst/best", "-" * (len(units) + 14)]
    for size in sorted(worst):
        cells = []
        for regime in regimes:
            trial = trials[regime].get(size)
            if trial is None:
                cells.append(f"{'-':>28}")
            else:
                cells.append(
                    f"{trial.sends_per_second:17.0f} {trial.cpu_ms_per_send:10.2f}"
                )

        lines.append(f"{size:>15} " + " ".join(cells) + f"   {worst[size]:9.0%}")

    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
