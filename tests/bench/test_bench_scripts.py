"""The scripts under benchmarks/: a ProavError (a bad option, a missing demo run) ends them with
one line and exit status 2, not a traceback; the seed spread they report."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from proav_core.benchmarking.report import run_script, spread, spread_text
from proav_core.errors import CheckpointError, UsageError

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "bench_startup.py")  # stays torch-free


def run(main, console: Console) -> int:
    with pytest.raises(SystemExit) as exit_:
        run_script(main, console)
    return exit_.value.code


def test_a_proav_error_is_one_line_and_status_2():
    out = io.StringIO()

    def main() -> int:
        raise CheckpointError("checkpoint not found: runs/x/last.ckpt [train it first]")

    assert run(main, Console(file=out, width=200)) == 2
    assert out.getvalue() == "error: checkpoint not found: runs/x/last.ckpt [train it first]\n"  # brackets kept


@pytest.mark.parametrize(("returned", "status"), [(None, 0), (0, 0), (3, 3)])
def test_the_status_of_main_is_the_exit_status(returned, status):
    assert run(lambda: returned, Console(file=io.StringIO())) == status


def test_other_exceptions_are_not_swallowed():
    def main() -> int:
        raise ValueError("a bug in the script")

    with pytest.raises(ValueError, match="a bug in the script"):
        run_script(main, Console(file=io.StringIO()))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_script_runs_its_main_through_run_script(script):
    tree = ast.parse(script.read_text())
    guards = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    assert len(guards) == 1, f"{script.name}: no `if __name__ == '__main__':` block"
    calls = [ast.unparse(stmt) for stmt in guards[0].body]
    assert len(calls) == 1 and calls[0].startswith("run_script(main"), f"{script.name}: {calls}"


def test_a_benchmark_without_its_demo_run_says_so_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_peers.py"), "--demo-set",
                           f"output_dir={tmp_path}", "--no-fvd", "--out", str(tmp_path / "peers.json")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "holds no finished demo run" in errors[0], output
    assert not (tmp_path / "peers.json").exists()


def test_spread_over_seeds():
    assert spread([0.5, 0.75, 1.0]) == {"mean": 0.75, "min": 0.5, "max": 1.0}
    assert spread([0.1, 0.2, 0.2], digits=2) == {"mean": 0.17, "min": 0.1, "max": 0.2}
    assert spread([0.5, None]) is None  # a seed without the figure: no spread rather than a partial one
    assert spread([]) is None
    assert spread_text(spread([0.5, 0.75, 1.0])) == "0.750 (0.500-1.000)"
    assert spread_text(spread([1.0, 1.0])) == "1.000"  # every seed the same: the value alone
    assert spread_text(None) == "-"


def test_usage_errors_are_proav_errors():  # what run_script catches covers the option errors too
    out = io.StringIO()

    def main() -> int:
        raise UsageError("--seeds: give at least one")

    assert run(main, Console(file=out)) == 2 and out.getvalue().startswith("error: --seeds")
