"""Benchmark Prepaid SIM against the RESTful alternative, with Home Assistant in-process.

For 1, 10, 100 and 1,000 tracked lines it starts the eSIM Access emulator (tests/emulators)
in its own process on 127.0.0.1, then runs, each in a fresh Python process
(script/bench_worker.py), a Home Assistant set up with:

* ``ours``: Prepaid SIM with an eSIM Access account tracking every line;
* ``rest_per_line`` (b1): ``rest:`` with one ``esim/query`` resource per line;
* ``rest_single_tpl`` (b2): one ``esim/query`` resource per page of 500 holding the whole
  list as an attribute, and ``template:`` sensors picking each line out of it;
* ``rest_keyed_tpl`` (b3): the same page resources, ONE ``template:`` sensor that keys the
  list by line id in an attribute, and per-line ``template:`` sensors that look their line up
  in it (one dict lookup each): the best setup a well-informed user builds;
* ``rest_single_rest`` (b2, other form): the same page resources with the line sensors
  directly under them;

and the eSIM Go, Airalo and 1NCE emulators with Prepaid SIM for their request patterns. The results go to
docs/benchmarks.md between the ``bench:begin``/``bench:end`` markers, and the summary in
README.md between ``bench:readme:begin``/``bench:readme:end`` (the text around them
is kept) and, raw, to ``--json``.

Usage: ``script/bench [--quick] [--lines 1,10,100,1000] [--no-write]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
from datetime import UTC, datetime
import hashlib
import json
import os
from pathlib import Path
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench_report import (
    BEGIN,
    END,
    PAIRED,
    README_BEGIN,
    README_END,
    REST_SIDES,
    SCENARIOS,
    render,
    render_readme,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
WORKER_TIMEOUT = 900
# The other provider emulators: the limit each enforces (requests/s) and the refreshes timed
# with it on (Airalo's spread needs 15 simulated minutes, 3 refreshes, to reach its pace).
OTHER_PROVIDERS = {"esimgo": (10, 2), "airalo": (5, 6), "onence": (10, 2)}


# --- running the pieces -------------------------------------------------------------------


@contextlib.contextmanager
def emulator(provider: str, lines: int) -> Iterator[dict[str, Any]]:
    """Run an emulator process (429s off) and yield its URLs and line ids."""
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            str(ROOT / "script" / "bench_emulator.py"),
            "--provider",
            provider,
            "--lines",
            str(lines),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        yield info
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run_worker(
    side: str, info: dict[str, Any], workdir: Path, log: Path, **options: Any
) -> dict[str, Any]:
    """Run one worker process and return its result (or the error it died with)."""
    config = workdir / f"{side}-{len(info['line_ids'])}-config.json"
    result = workdir / f"{side}-{len(info['line_ids'])}-result.json"
    config.write_text(json.dumps(info), encoding="utf-8")
    command = [
        sys.executable,
        str(ROOT / "script" / "bench_worker.py"),
        "--side",
        side,
        "--config",
        str(config),
        "--result",
        str(result),
    ]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    started = time.monotonic()
    with log.open("a", encoding="utf-8") as stderr:
        stderr.write(f"\n=== {shlex.join(command)}\n")
        stderr.flush()
        completed = subprocess.run(  # noqa: S603
            command, stdout=stderr, stderr=stderr, timeout=WORKER_TIMEOUT, check=False
        )
    elapsed = time.monotonic() - started
    print(f"  {side:<18} {len(info['line_ids']):>5} lines  {elapsed:6.1f} s", flush=True)
    if completed.returncode != 0 or not result.exists():
        return {"side": side, "error": f"worker exited {completed.returncode}; see {log}"}
    data: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    data["elapsed_s"] = elapsed
    return data


def repeat_cpu(
    runs: dict[str, Any], info: dict[str, Any], workdir: Path, log: Path, args: argparse.Namespace
) -> None:
    """Time the refreshes again in fresh processes; keep the median of the processes' medians.

    One process's median repeats within a few percent, but two processes of the same code
    can differ by 20 % or more on this kind of machine (memory layout, hash seeds, the host).
    The sides take turns, so a slow spell of the machine hits them alike; ours and the
    keyed baseline run back to back in each round (first one, then the other), and every
    process notes its round, so the report can also compare them round by round.
    """
    lines = len(info["line_ids"])
    big = lines > args.cpu_repeats_max
    repeats = args.cpu_repeats_big if big else args.cpu_repeats
    # Where one cycle costs seconds, a side far from the best (b2 above 100 lines) is timed
    # in one process only.
    repeated = [
        side
        for side in runs
        if "error" not in runs[side] and not (big and side in args.no_repeat_big)
    ]
    extra: dict[str, list[tuple[int, dict[str, Any]]]] = {side: [] for side in runs}
    for round_number in range(1, repeats):
        for side in round_order(repeated, round_number):
            # Each size with its own cycle count (it used to be the first size's for all).
            again = run_worker(
                side, info, workdir, log, passes="cpu", cycles=cycles_for(side, lines, args.cycles)
            )
            if "cpu" in again:
                extra[side].append((round_number, again["cpu"]))
    for side, more in extra.items():
        main = runs[side].get("main")
        if not main:
            continue
        rounds = [0, *(number for number, _ in more)]
        for scenario in SCENARIOS:
            _combine(main[scenario]["cpu"], [m[scenario]["cpu"] for _, m in more], rounds)
        for label in main.get("floor", {}):
            _combine(main["floor"][label], [m["floor"][label] for _, m in more], rounds)
        if "write_cost" in main:
            _combine(main["write_cost"]["cpu"], [m["write_cost"]["cpu"] for _, m in more], rounds)


def repeat_changes(
    small: int, big: int, workdir: Path, log: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Time the local changes at two sizes in rounds, the sizes back to back in each.

    The stall pass times them too, but at each size in its turn, minutes apart: the
    round-by-round ratio of the two sizes compares processes run seconds apart. Returns
    each size's ``changes``, each noting its round (a failed process is left out).
    """
    print(f"Local changes, {small} and {big} lines, {args.change_rounds} rounds", flush=True)
    rounds: dict[str, list[dict[str, Any]]] = {str(small): [], str(big): []}
    with emulator("esimaccess", small) as small_info, emulator("esimaccess", big) as big_info:
        sizes = [(small, small_info), (big, big_info)]
        for round_number in range(args.change_rounds):
            for lines, info in sizes if round_number % 2 == 0 else reversed(sizes):
                run = run_worker(
                    "ours",
                    info,
                    workdir,
                    log,
                    passes="changes",
                    change_repeats=args.change_repeats,
                )
                if "changes" in run:
                    rounds[str(lines)].append({"round": round_number, **run["changes"]["changes"]})
    return rounds


def round_order(sides: list[str], round_number: int) -> list[str]:
    """Return the order of one repeat round: ours and b3 first, taking turns to lead."""
    pair = [side for side in PAIRED if side in sides]
    if round_number % 2:
        pair.reverse()
    return [*pair, *(side for side in sides if side not in PAIRED)]


def _combine(first: dict[str, Any], others: list[dict[str, Any]], rounds: list[int]) -> None:
    """Make ``first``'s median the median of its own and the other processes' medians."""
    medians = [first["median"], *(other["median"] for other in others)]
    first["first_process_median"] = first["median"]
    first["process_medians"] = medians
    first["process_rounds"] = rounds
    first["median"] = statistics.median(medians)


def cycles_for(side: str, lines: int, base: int) -> int:
    """Fewer timed cycles where one cycle costs seconds (a median of fewer is still fair)."""
    if lines < 1000:
        return base
    return {"ours": base, "rest_per_line": 10, "rest_keyed_tpl": 10, "rest_single_tpl": 6}.get(
        side, 3
    )


def machine_facts() -> dict[str, Any]:
    """Describe the machine and the software measured."""
    from homeassistant.const import __version__ as ha_version

    model = ""
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    return {
        "code": code_version(),
        "integration_tree": integration_tree(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "homeassistant": ha_version,
        "ulid": ulid_implementation(),
        "platform": platform.platform(),
        "load_before": os.getloadavg(),
    }


def ulid_implementation() -> str:
    """Say which ULID module Home Assistant uses: every state write makes a ULID."""
    import ulid_transform

    # The compiled module's functions are builtins; the fallback's are Python functions.
    compiled = type(ulid_transform.ulid_now).__name__ == "builtin_function_or_method"
    return "compiled" if compiled else "pure Python"


def integration_tree() -> str:
    """Return the git tree id of custom_components at HEAD (unknown if git cannot tell)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD:custom_components"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except OSError, subprocess.CalledProcessError:
        return "unknown"


def code_version() -> str:
    """Return the commit measured, and whether the integration had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "custom_components"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except OSError, subprocess.CalledProcessError:
        return "unknown"
    if dirty:
        digest = subprocess.run(
            ["git", "diff", "HEAD", "--", "custom_components"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            check=False,
        ).stdout
        return f"{head} + uncommitted changes in custom_components (diff {hashlib.sha256(digest).hexdigest()[:8]})"
    return head


def passes_for(side: str, lines: int, args: argparse.Namespace) -> list[str]:
    """Return the worker passes of a side at a size."""
    passes = ["main"]
    # The limits pass is about request patterns: b2, b3 and b2' send the same few.
    if side in ("ours", "rest_per_line") or (
        side in ("rest_single_tpl", "rest_keyed_tpl") and lines <= 100
    ):
        passes.append("limits")
    if lines <= args.tracemalloc_max:
        passes.append("memory")
    if side == "ours" and lines >= 10:
        passes.append("stall")
    return passes


def run_all(args: argparse.Namespace, workdir: Path, log: Path) -> dict[str, Any]:
    """Run every measurement; return the raw results."""
    results: dict[str, Any] = {"facts": machine_facts(), "esimaccess": {}}
    results.update({provider: {} for provider in OTHER_PROVIDERS})
    biggest = max(args.lines)
    for lines in args.lines:
        print(f"eSIM Access emulator, {lines} lines", flush=True)
        runs: dict[str, Any] = {}
        with emulator("esimaccess", lines) as info:
            # Ours and b3 (the best baseline wherever lines changed) one after the other.
            for side in (*PAIRED, *(side for side in REST_SIDES if side not in PAIRED)):
                if side == "rest_single_rest" and lines > args.single_rest_max:
                    continue
                options: dict[str, Any] = {
                    "passes": ",".join(passes_for(side, lines, args)),
                    "cycles": cycles_for(side, lines, args.cycles),
                    "catalogue_wait_max": args.catalogue_wait_max,
                    "emulator_rate": 8,
                }
                if side == "ours" and lines == biggest:
                    options["profile"] = args.profile_cycles
                if side == "ours":
                    options["change_repeats"] = args.change_repeats
                runs[side] = run_worker(side, info, workdir, log, **options)
            repeat_cpu(runs, info, workdir, log, args)
        results["esimaccess"][str(lines)] = runs
    small = min((lines for lines in args.lines if lines >= 10), default=None)
    if small is not None and biggest > small and args.change_rounds:
        results["change_rounds"] = repeat_changes(small, biggest, workdir, log, args)
    for provider, (rate, limit_cycles) in OTHER_PROVIDERS.items():
        for lines in args.other_lines:
            print(f"{provider} emulator, {lines} lines", flush=True)
            with emulator(provider, lines) as info:
                passes = "main,limits" if lines <= args.other_limits_max else "main"
                results[provider][str(lines)] = run_worker(
                    f"ours_{provider}",
                    info,
                    workdir,
                    log,
                    passes=passes,
                    cycles=min(args.cycles, 10),
                    catalogue_wait_max=args.other_limits_max,
                    emulator_rate=rate,
                    limit_cycles=limit_cycles,
                )
    results["facts"]["method"] = {
        "cycles": args.cycles,
        "cpu_repeats": args.cpu_repeats,
        "cpu_repeats_max": args.cpu_repeats_max,
        "cpu_repeats_big": args.cpu_repeats_big,
        "no_repeat_big": sorted(args.no_repeat_big),
        "change_repeats": args.change_repeats,
        "change_rounds": args.change_rounds,
    }
    results["facts"]["load_after"] = os.getloadavg()
    results["facts"]["code_after"] = code_version()
    results["facts"]["integration_tree_after"] = integration_tree()
    return results


def write_readme(generated: str) -> None:
    """Replace the README's generated benchmark summary (between its markers)."""
    text = README.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        print("README.md has no benchmark markers: left as it was")
        return
    head, _, rest = text.partition(README_BEGIN)
    _, _, tail = rest.partition(README_END)
    README.write_text(head + generated + tail, encoding="utf-8")


def write_doc(generated: str) -> None:
    """Replace the generated block of docs/benchmarks.md (or create the file)."""
    if DOC.exists():
        text = DOC.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            DOC.write_text(head + generated + tail, encoding="utf-8")
            return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(f"# Benchmarks\n\n{generated}\n", encoding="utf-8")


def main() -> None:
    """Parse the command line, run and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1, 10 and 100 lines only")
    parser.add_argument("--lines", help="comma-separated line counts (default 1,10,100,1000)")
    parser.add_argument("--cycles", type=int, default=30, help="timed refreshes per scenario")
    parser.add_argument("--profile-cycles", type=int, default=5)
    parser.add_argument(
        "--change-repeats", type=int, default=30, help="times each settings/journal/package change"
    )
    parser.add_argument(
        "--catalogue-wait-max",
        type=int,
        default=100,
        help="largest line count whose 8/s package reads are waited for (else estimated)",
    )
    parser.add_argument(
        "--change-rounds",
        type=int,
        default=4,
        help="rounds timing the local changes at 10 and 1,000 lines back to back (0: none)",
    )
    parser.add_argument("--single-rest-max", type=int, default=100)
    parser.add_argument(
        "--cpu-repeats",
        type=int,
        default=7,
        help="processes whose CPU medians are combined (median of them), up to --cpu-repeats-max",
    )
    parser.add_argument(
        "--cpu-repeats-max",
        type=int,
        default=100,
        help="largest line count timed in --cpu-repeats processes; above, --cpu-repeats-big",
    )
    parser.add_argument("--cpu-repeats-big", type=int, default=3)
    parser.add_argument(
        "--no-repeat-big",
        default="rest_single_tpl",
        help="sides timed in one process only above --cpu-repeats-max (comma-separated)",
    )
    parser.add_argument(
        "--other-providers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the eSIM Go, Airalo and 1NCE emulators",
    )
    parser.add_argument(
        "--tracemalloc-max",
        type=int,
        default=100,
        help="largest line count also measured with tracemalloc (a slow extra pass)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--from-json", type=Path, help="only render these raw results")
    args = parser.parse_args()
    default = "1,10,100" if args.quick else "1,10,100,1000"
    args.lines = [int(n) for n in (args.lines or default).split(",")]
    args.other_lines = args.lines if args.other_providers else []
    args.no_repeat_big = set(filter(None, args.no_repeat_big.split(",")))
    args.other_limits_max = 100
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            log = Path(tmp) / "workers.log"
            started = time.monotonic()
            try:
                results = run_all(args, Path(tmp), log)
            finally:
                saved = Path(tempfile.gettempdir()) / "prepaid-sim-bench-workers.log"
                saved.write_text(log.read_text(encoding="utf-8") if log.exists() else "")
            results["facts"]["total_s"] = time.monotonic() - started
            results["facts"]["command"] = shlex.join(["script/bench", *sys.argv[1:]])
            print(f"total {results['facts']['total_s']:.0f} s; worker logs in {saved}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    generated = render(results, results["facts"].get("command", "script/bench"))
    if args.no_write:
        print(generated)
    else:
        write_doc(generated)
        write_readme(render_readme(results))
        print(f"wrote {DOC.relative_to(ROOT)} and the summary in README.md")


if __name__ == "__main__":
    main()
