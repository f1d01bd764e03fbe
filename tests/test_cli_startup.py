"""The CLI starts light: `--help` loads no data or ML library, even with tracking.uri set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "numpy", "sklearn", "mlflow", "pydantic", "pyarrow", "skops")

PROBE = f"""
import json, os, sys
from gitops_ml.cli import main
sys.argv = ["gitops-ml", "--help"]
try:
    main()
except SystemExit:
    pass
print(json.dumps({{
    "loaded": [m for m in {HEAVY!r} if m in sys.modules],
    "uri": os.environ.get("MLFLOW_TRACKING_URI"),
}}))
"""


def test_help_loads_no_heavy_library_and_still_exports_the_tracking_uri(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("tracking:\n  uri: http://127.0.0.1:5999\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "prepare" in out.stdout  # the help text itself was printed
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe == {"loaded": [], "uri": "http://127.0.0.1:5999"}
