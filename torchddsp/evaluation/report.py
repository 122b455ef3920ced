"""Self-contained HTML reports: audio players and plots embedded as data URIs (one file, no server)."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import numpy as np
import torch

from torchddsp.data.audio import write_wav
from torchddsp.files import write_text_atomically
from torchddsp.functional.spectral.stft import padding_for, stft


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def audio_tag(audio: torch.Tensor, sample_rate: int) -> str:
    data = audio.detach().cpu().double().numpy().reshape(-1)
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        data = data / peak
    buffer = io.BytesIO()
    write_wav(buffer, torch.from_numpy(data), sample_rate)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<audio controls preload="none" src="data:audio/wav;base64,{encoded}"></audio>'


def _png_tag(fig) -> str:
    plt = _figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def spectrogram_tag(signals: dict[str, torch.Tensor], sample_rate: int, n_fft: int = 1024) -> str:
    plt = _figure()
    fig, axes = plt.subplots(1, len(signals), figsize=(5 * len(signals), 3.2), squeeze=False)
    for ax, (name, x) in zip(axes[0], signals.items()):
        x = x.detach().cpu().float().reshape(-1)
        spec = stft(x, n_fft, n_fft // 4, window="hann", pad_mode=padding_for(len(x), n_fft)).abs()
        db = 20 * torch.log10(spec.clamp_min(1e-6)).numpy()
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                  extent=(0, len(x) / sample_rate, 0, sample_rate / 2))
        ax.set_title(name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("Hz")
    fig.tight_layout()
    return _png_tag(fig)


def curves_tag(frame_rate: float, f0: dict[str, torch.Tensor], loudness: dict[str, torch.Tensor]) -> str:
    plt = _figure()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    for name, values in f0.items():
        v = values.detach().cpu().numpy().reshape(-1)
        top.plot(np.arange(len(v)) / frame_rate, v, label=name)
    top.set_ylabel("f0 (Hz)")
    top.legend(loc="upper right")
    for name, values in loudness.items():
        v = values.detach().cpu().numpy().reshape(-1)
        bottom.plot(np.arange(len(v)) / frame_rate, v, label=name)
    bottom.set_ylabel("loudness (dB)")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper right")
    fig.tight_layout()
    return _png_tag(fig)


def distribution_tag(distribution: torch.Tensor, frame_rate: float) -> str:
    plt = _figure()
    d = distribution.detach().cpu().numpy().reshape(-1, distribution.shape[-1]).T
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.imshow(np.log10(d + 1e-5), origin="lower", aspect="auto", cmap="viridis",
              extent=(0, d.shape[1] / frame_rate, 0.5, d.shape[0] + 0.5))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("harmonic")
    ax.set_title("learned harmonic distribution (log10)")
    fig.tight_layout()
    return _png_tag(fig)


def loss_curve_tag(losses_csv: Path) -> str:
    if not losses_csv.exists():
        return "<p>(no loss log)</p>"
    points = []
    with losses_csv.open(newline="", errors="replace") as f:       # junk bytes make torn rows, not an error
        for row in csv.DictReader(line.replace("\0", "") for line in f):
            try:                                  # a row torn by a crash is left out, not fatal
                points.append((int(row["step"]), float(row["loss"])))
            except (TypeError, ValueError):
                continue
    if not points:
        return "<p>(no loss log)</p>"
    plt = _figure()
    steps = np.array([p[0] for p in points])
    losses = np.array([p[1] for p in points])
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(steps, losses, alpha=0.4, label="loss")
    if len(losses) >= 25:
        kernel = np.ones(25) / 25
        ax.plot(steps[24:], np.convolve(losses, kernel, mode="valid"), label="moving average (25)")
    ax.set_xlabel("step")
    ax.set_ylabel("multi-resolution STFT loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return _png_tag(fig)


def write_report(path: str | Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Write ``sections`` (heading, HTML body) as one self-contained HTML page."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"<section><h2>{html.escape(h)}</h2>\n{content}\n</section>" for h, content in sections)
    write_text_atomically(path, f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
img{{max-width:100%}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px}}
section{{margin-bottom:2em}} audio{{display:block;margin:.3em 0}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
""")
    return path


def table_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(f'{r[c]:.4g}' if isinstance(r[c], float) else str(r[c]))}</td>"
                                     for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"
