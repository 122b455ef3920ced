"""Run every benchmark workload and write a Markdown table and JSON.

    python -m benchmarks.run                 # all workloads
    python -m benchmarks.run w1 w4 --rounds 5

Results go to ``benchmarks/results/<UTC date>.{json,md}`` (git-ignored); copy the table into
``BENCHMARKS.md`` with the date and machine. Speed is always reported next to a peer measured in
the same process (see each workload module), because machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
from pathlib import Path

import torch

from benchmarks.harness import format_table, machine_description, write_json

WORKLOADS = {
    "w1": "benchmarks.w1_harmonic",
    "w2": "benchmarks.w2_filtered_noise",
    "w3": "benchmarks.w3_recursive",
    "w4": "benchmarks.w4_mrstft",
    "phase": "benchmarks.phase_accuracy",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", help=f"any of {sorted(WORKLOADS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per case (default: 9)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.workloads or list(WORKLOADS)
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"workloads: expected any of {sorted(WORKLOADS)}, received {unknown}")
    stamp = dt.datetime.now(dt.timezone.utc)
    machine = machine_description()
    print(f"# torchddsp benchmarks, {stamp:%Y-%m-%d %H:%M} UTC\n\nMachine: {machine}\n")
    results, sections = {}, []
    for name in names:
        module = importlib.import_module(WORKLOADS[name])
        rows = module.run(args.rounds)
        results[name] = rows
        columns = list(dict.fromkeys(key for row in rows for key in row))
        section = f"## {name}\n\n{format_table(rows, columns)}\n"
        sections.append(section)
        print(section, flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    write_json(out / f"{stamp:%Y-%m-%d}.json", {"date": stamp.isoformat(), "machine": machine, "results": results})
    (out / f"{stamp:%Y-%m-%d}.md").write_text(f"Machine: {machine}\n\n" + "\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
