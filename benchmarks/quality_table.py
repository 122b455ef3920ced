"""Markdown tables from ``quality_autoencoder`` results: ``python -m benchmarks.quality_table RESULT.json...``.

For each result: the reference systems and the model at its last evaluation point on both parts
of the recording, then the model's MSS against training time (``--curve``), then throughput and
inference speed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = ("mss", "loudness_l1_db", "f0_l1_cents", "f0_outlier_ratio")


def _cell(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def summary_table(results: list[dict]) -> str:
    lines = ["| file | system | part | MSS | loudness L1 (dB) | f0 L1 (cents) | f0 outliers |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        name = Path(result["file"]).name
        model_rows = [r for r in result["rows"] if "step" in r]
        last_step = max(r["step"] for r in model_rows)
        for row in result["rows"]:
            if "step" in row and row["step"] != last_step:
                continue
            system = row["system"] + (f" ({row['train_minutes']:.1f} min, step {row['step']})" if "step" in row else "")
            lines.append(f"| {name} | {system} | {row['part']} | " + " | ".join(_cell(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def curve_table(result: dict) -> str:
    lines = ["| training minutes | step | MSS train part | MSS held-out part |", "|---|---|---|---|"]
    model_rows = [r for r in result["rows"] if "step" in r]
    for step in sorted({r["step"] for r in model_rows}):
        at = {r["part"]: r for r in model_rows if r["step"] == step}
        minutes = next(iter(at.values()))["train_minutes"]
        lines.append(f"| {minutes:.1f} | {step} | {at['train part']['mss']:.3f} | {at['held-out part']['mss']:.3f} |")
    return "\n".join(lines)


def speed_table(results: list[dict]) -> str:
    lines = ["| file | sample rate | threads | steps | examples/s | inference x real time (1 thread) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {Path(r['file']).name} | {r['sample_rate']} | {r.get('threads', 2)} | {r['steps']} | "
                     f"{r['examples_per_second']:.1f} | {r['inference_realtime_factor_1_thread']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--curve", action="store_true", help="also print MSS against training time")
    args = parser.parse_args(argv)
    results = [json.loads(Path(p).read_text()) for p in args.results]
    print(summary_table(results) + "\n")
    if args.curve:
        for result in results:
            print(f"{Path(result['file']).name}:\n\n{curve_table(result)}\n")
    print(speed_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
