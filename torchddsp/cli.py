"""The ``torchddsp`` command.

Sub-commands:

- ``render``: synthesise a short harmonic-plus-noise phrase from hand-made controls (no data,
  no network) and write a WAV and a spectrogram PNG. The quickest check that an installation
  works, and a worked example of driving the synthesiser by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _render(args: argparse.Namespace) -> int:
    import torch

    from .examples import example_controls
    from .io import write_wav
    from .plots import save_spectrogram_png
    from .processors import HarmonicPlusNoise, Reverb

    reverb = Reverb(args.sample_rate, seconds=1.5, mode="parametric", initial_decay=1.2, initial_gain=0.02,
                    seed=args.seed)
    synth = HarmonicPlusNoise(args.sample_rate, args.hop_size, n_harmonics=args.harmonics, n_noise_bands=65,
                              reverb=reverb)
    controls = example_controls(args.seconds, args.sample_rate, args.hop_size, args.harmonics, 65)
    with torch.no_grad():
        audio = synth.render(**controls, noise_seed=args.seed)[0]
    audio = 0.9 * audio / audio.abs().max().clamp_min(1e-9)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wav, png = out / "harmonic_plus_noise.wav", out / "harmonic_plus_noise.png"
    write_wav(wav, audio, args.sample_rate)
    save_spectrogram_png(png, audio, args.sample_rate, title="torchddsp harmonic-plus-noise example")
    print(f"wrote {wav}")
    print(f"wrote {png}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchddsp", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"torchddsp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="synthesise an example phrase to a WAV and a spectrogram PNG")
    render.add_argument("--out", default="out/example", help="output folder (default: out/example)")
    render.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default: 16000)")
    render.add_argument("--hop-size", type=int, default=64, help="samples per control frame (default: 64)")
    render.add_argument("--seconds", type=float, default=4.0, help="length in seconds (default: 4)")
    render.add_argument("--harmonics", type=int, default=60, help="number of harmonics (default: 60)")
    render.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    render.set_defaults(func=_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:           # bad input: say what was wrong, no traceback
        print(f"torchddsp {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
