"""Start-up time of the `proav` command line: wall seconds per command, and whether it imported torch.

    .venv/bin/python benchmarks/bench_startup.py --label before|after [--repeats 5] [--warmup 1]
        [--out benchmarks/measured/startup.json] [--only="--version,registry list"]

Each command runs as a fresh `proav` process (the console script beside this interpreter) from
the repository root: `--version`, `--help`, `<command> --help` for every command and subcommand
(found by walking the click app, so the script works on any commit), and a few real light
commands (`registry list`, `config show configs/demo.toml`, `config check configs/demo.toml`).
Per command: the median, minimum and every timed run (after `--warmup` untimed runs that warm
the file cache), its exit code, and whether torch was imported (one extra run under
`python -X importtime`, not timed).

The JSON keeps one entry per label (e.g. "before" and "after" a change), each with its commit,
the load average at start and end, and the settings, so two labels can be compared; a rerun
with the same label replaces that label's entry only. When both labels are present, a
comparison table is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "measured" / "startup.json"
LIGHT_COMMANDS = [
    ["registry", "list"],
    ["config", "show", "configs/demo.toml"],
    ["config", "check", "configs/demo.toml"],
]
MACHINE_NOTE = (
    "shared 2-core CPU machine, loaded: another engineer trains models on it at the same time, so the "
    "load varies within and between runs (load_average of each label); the medians are noisy, the minimum is the "
    "least disturbed run; the heavy_imports columns do not depend on the load"
)
HEAVY_MODULES = ("torch", "torchvision", "torchaudio", "lightning_fabric", "numpy", "av", "soundfile", "PIL")


def proav_executable() -> list[str]:
    """The `proav` console script of this interpreter's environment (python -m proav_core without one)."""
    script = Path(sys.executable).with_name("proav")
    return [str(script)] if script.exists() else [sys.executable, "-m", "proav_core"]


def help_commands() -> list[list[str]]:
    """`--version`, `--help` and `<path> --help` for every command and subcommand of the click app."""
    import click

    from proav_core.cli import cli

    found: list[list[str]] = [["--version"], ["--help"]]

    def walk(group: click.Group, path: list[str]) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            found.append([*path, name, "--help"])
            if isinstance(cmd, click.Group):
                walk(cmd, [*path, name])

    walk(cli, [])
    return found


def imported_modules(argv: list[str]) -> list[str]:
    """The heavy top-level modules (HEAVY_MODULES) that `proav ARGV` imports, from -X importtime."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "proav_core", *argv], cwd=ROOT,
                          capture_output=True, text=True)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return [m for m in HEAVY_MODULES if m in names]


def time_command(argv: list[str], repeats: int, warmup: int) -> dict:
    """Wall seconds of `proav ARGV` as a fresh process, `warmup` untimed runs then `repeats` timed."""
    cmd = [*proav_executable(), *argv]
    env = {**os.environ, "COLUMNS": "120"}
    seconds, code = [], 0
    for i in range(warmup + repeats):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        code = code or proc.returncode
        if i >= warmup:
            seconds.append(round(elapsed, 4))
    heavy = imported_modules(argv)
    return {"command": " ".join(["proav", *argv]), "exit_code": code, "median_s": round(statistics.median(seconds), 4),
            "min_s": min(seconds), "runs_s": seconds, "imports_torch": "torch" in heavy, "heavy_imports": heavy}


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    width = max(len(r["command"]) for r in rows)
    print(f"{'command':<{width}}  {'median s':>9}  {'min s':>7}  torch  other heavy imports")
    for r in rows:
        flag = "yes" if r["imports_torch"] else "no"
        other = ", ".join(m for m in r["heavy_imports"] if m != "torch") or "-"
        rc = "" if r["exit_code"] == 0 else f"  (exit {r['exit_code']})"
        print(f"{r['command']:<{width}}  {r['median_s']:>9.2f}  {r['min_s']:>7.2f}  {flag:<5}  {other}{rc}")


def print_comparison(before: dict, after: dict) -> None:
    old = {r["command"]: r for r in before["results"]}
    rows = [(r, old[r["command"]]) for r in after["results"] if r["command"] in old]
    if not rows:
        return
    width = max(len(r["command"]) for r, _ in rows)
    print(f"\nbefore ({before['git']['commit'][:7]}) vs after ({after['git']['commit'][:7]}), median seconds")
    print(f"{'command':<{width}}  {'before':>7}  {'after':>7}  {'speed-up':>8}")
    for new, prev in rows:
        print(f"{new['command']:<{width}}  {prev['median_s']:>7.2f}  {new['median_s']:>7.2f}  "
              f"{prev['median_s'] / new['median_s']:>7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="name of this measurement, e.g. before or after")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per command first")
    parser.add_argument("--only", default=None, help="comma-separated commands (without 'proav') to time instead of all")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--note", default="", help="what this label measures, kept in the JSON")
    args = parser.parse_args()

    commands = help_commands() + [list(c) for c in LIGHT_COMMANDS]
    if args.only:
        wanted = {c.strip() for c in args.only.split(",")}
        commands = [c for c in commands if " ".join(c) in wanted]
    load_start = os.getloadavg()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = []
    for argv in commands:
        results.append(time_command(argv, args.repeats, args.warmup))
        r = results[-1]
        print(f"{r['command']}: {r['median_s']:.2f} s (torch: {'yes' if r['imports_torch'] else 'no'})", flush=True)
    entry = {"git": git_commit(), "note": args.note, "started": started, "repeats": args.repeats, "warmup": args.warmup,
             "load_average": {"start": [round(x, 2) for x in load_start],
                              "end": [round(x, 2) for x in os.getloadavg()]},
             "results": results}
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update({"benchmark": "proav start-up: wall seconds per command as a fresh process",
                   "machine": {"note": MACHINE_NOTE, "cpus": os.cpu_count(), "platform": platform.platform(),
                               "python": platform.python_version()}})
    report.setdefault("labels", {})[args.label] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print_rows(f"{args.label} ({entry['git']['commit'][:7]}{', dirty' if entry['git']['dirty'] else ''}), "
               f"load average {entry['load_average']['start'][0]} -> {entry['load_average']['end'][0]}", results)
    labels = report["labels"]
    if "before" in labels and "after" in labels:
        print_comparison(labels["before"], labels["after"])
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
