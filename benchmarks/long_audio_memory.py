"""Peak memory of the commands on long recordings: ``prepare``, ``resynth``, ``transfer``, ``evaluate``.

For each length (default 10 and 60 minutes) a mono 44.1 kHz 16-bit WAV is written block by block:
the development violin recording repeated (``../shared/audio/dev``; a synthetic vibrato tone when it
is missing). A tiny model is trained for a few steps on a short clip (its quality does not matter
here: the work per sample is that of any model of the ``small`` config). Each command then runs in
a fresh process, and its peak resident set (``ru_maxrss`` of the finished child) is reported
with its wall time. ``evaluate`` uses the YIN tracker (``--f0-tracker yin``) so the hour stays
affordable on a CPU; CREPE only adds per-chunk work.

Run ``python -m benchmarks.long_audio_memory`` (``--minutes 10 60``; ``--torchddsp CMD`` to measure
another installation's command, e.g. an older checkout's venv, for a before/after figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
VIOLIN = Path(__file__).resolve().parents[2] / "shared" / "audio" / "dev" / "fluid_violin.44k.flac"


def source_audio() -> np.ndarray:
    if VIOLIN.exists():
        audio, rate = sf.read(str(VIOLIN), dtype="float32", always_2d=True)
        assert rate == RATE
        return audio.mean(axis=1)
    t = np.arange(20 * RATE) / RATE
    f0 = 330 * 2 ** (0.3 * np.sin(2 * np.pi * 0.25 * t) + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)


def write_long_wav(path: Path, minutes: float, clip: np.ndarray) -> None:
    total = int(minutes * 60 * RATE)
    with sf.SoundFile(str(path), "w", RATE, 1, subtype="PCM_16", format="WAV") as handle:
        for start in range(0, total, len(clip)):
            handle.write(clip[:min(len(clip), total - start)])


def run(command: list[str]) -> tuple[float, float]:
    """(peak resident MB, wall seconds) of ``command`` in a fresh process; raises on failure."""
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    error = child.stderr.read().decode()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}): {error[-2000:]}")
    return usage.ru_maxrss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--torchddsp", default=f"{sys.executable} -m torchddsp.apps.cli",
                        help="the command to measure (default: this interpreter's torchddsp)")
    parser.add_argument("--commands", nargs="+", default=["prepare", "resynth", "transfer", "evaluate"],
                        help="the commands to measure (default: all four)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    command = args.torchddsp.split()
    clip = source_audio()
    rows = []
    with tempfile.TemporaryDirectory(prefix="torchddsp-long-") as folder:
        work = Path(folder)
        (work / "short").mkdir()
        sf.write(str(work / "short" / "clip.wav"), clip[:8 * RATE], RATE, subtype="PCM_16")
        subprocess.run([*command, "prepare", str(work / "short"), str(work / "short_data"), "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([*command, "train", str(work / "short_data"), str(work / "run"), "--quiet",
                        "--set", "train.steps=2"], check=True, stdout=subprocess.DEVNULL)
        for minutes in args.minutes:
            long_dir = work / f"long_{minutes:g}"
            long_dir.mkdir()
            wav = long_dir / "long.wav"
            write_long_wav(wav, minutes, clip)
            cases = {
                "prepare": ["prepare", str(long_dir), str(work / f"data_{minutes:g}"), "--quiet"],
                "resynth": ["resynth", str(work / "run"), str(wav), str(work / f"resynth_{minutes:g}.wav")],
                "transfer": ["transfer", str(work / "run"), str(wav), str(work / f"transfer_{minutes:g}.wav")],
                "evaluate": ["evaluate", str(work / "run"), str(wav), "--f0-tracker", "yin"],
            }
            for name, case in ((n, c) for n, c in cases.items() if n in args.commands):
                peak_mb, wall = run([*command, *case])
                rows.append({"command": name, "minutes": minutes, "peak_rss_mb": round(peak_mb), "wall_s": round(wall)})
                print(f"{name:9s} {minutes:5g} min: peak RSS {peak_mb:7.0f} MB, {wall:6.0f} s", flush=True)
            wav.unlink()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
