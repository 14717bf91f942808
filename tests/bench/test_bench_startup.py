"""benchmarks/bench_startup.py end to end on two light commands: the JSON it keeps per label."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_startup.py"


def run_bench(out: Path, label: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--label", label, "--only", "--version,data --help",
                           "--repeats", "2", "--warmup", "0", "--note", f"{label} run", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_two_labels_are_kept_and_compared(tmp_path):
    out = tmp_path / "startup.json"
    run_bench(out, "before")
    printed = run_bench(out, "after")
    report = json.loads(out.read_text())
    assert set(report["labels"]) == {"before", "after"}
    assert "loaded" in report["machine"]["note"]
    after = report["labels"]["after"]
    assert after["note"] == "after run" and len(after["git"]["commit"]) == 40
    assert [r["command"] for r in after["results"]] == ["proav --version", "proav data --help"]
    for row in after["results"]:
        assert row["exit_code"] == 0 and len(row["runs_s"]) == 2
        assert min(row["runs_s"]) == row["min_s"] <= row["median_s"] <= max(row["runs_s"])
        assert row["imports_torch"] is False and row["heavy_imports"] == []
    assert "speed-up" in printed and "proav data --help" in printed
