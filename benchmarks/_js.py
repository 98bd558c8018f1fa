"""
The official JavaScript SDK as a baseline: installed on first use, run by Node.js.

`benchmarks/js/worker.mjs` drives `@azure/notification-hubs` through the same
workload and prints the same measurement as `_worker.py`. Node.js and npm are not
needed for anything else in the project: without them (or with no registry to
install from) the comparison runs without this row and says why.
"""

from __future__ import annotations

import shutil
import subprocess

from ._harness import ROOT

__all__ = ["JS_CLIENT", "JS_DIRECTORY", "ensure_js_sdk"]

JS_CLIENT = "js-sdk"
JS_DIRECTORY = ROOT / "benchmarks" / "js"
_INSTALL_TIMEOUT_SECONDS = 300


def ensure_js_sdk() -> str | None:
    """Install the SDK if needed; None when it is ready, else why it is not."""
    if shutil.which("node") is None:
        return "node is not installed"

    if (JS_DIRECTORY / "node_modules" / "@azure" / "notification-hubs").is_dir():
        return None

    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"

    # The version is pinned in package.json; no lock file is written or kept.
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=JS_DIRECTORY,
            check=True,
            capture_output=True,
            timeout=_INSTALL_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"npm install failed: {error}"

    return None
