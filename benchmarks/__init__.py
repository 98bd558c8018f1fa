"""
Benchmarks for notifhub-async: loopback HTTPS throughput, CPU and memory per send.

Run from the repository root, for example `python -m benchmarks.clients`; see
`benchmarks/README.md` and `docs/performance.md`.
"""
