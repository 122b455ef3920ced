"""Tests for torchddsp.evaluation.report and workflows.run_report: one self-contained HTML file (audio as
WAV data URIs that decode, images as PNG data URIs, no external URLs) with the expected sections."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.apps.inference import TrainedModel
from torchddsp.apps.workflows import resynthesis_item, run_report, transfer_item
from torchddsp.evaluation import report
from torchddsp.models import DDSPAutoencoder, ModelConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sources(page):
    return re.findall(r'(?:src|href)="([^"]*)"', page)


def decode(uri, prefix):
    assert uri.startswith(prefix), uri[:60]
    return base64.b64decode(uri[len(prefix):], validate=True)


def assert_self_contained(page):
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, flags=re.I), "external URL in the page"
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    for uri in sources(page):
        assert uri.startswith(("data:audio/wav;base64,", "data:image/png;base64,")), uri[:60]


def test_audio_tag_embeds_a_wav_that_decodes():
    x = 0.5 * torch.sin(2 * torch.pi * 440 * torch.arange(8000) / 16000)
    tag = report.audio_tag(x, 16000)
    assert tag.startswith("<audio controls") and tag.endswith("</audio>")
    (uri,) = sources(tag)
    audio, rate = sf.read(io.BytesIO(decode(uri, "data:audio/wav;base64,")))
    assert rate == 16000 and audio.shape == (8000,)
    np.testing.assert_allclose(audio, x.numpy(), atol=1 / 32768)          # quiet audio is not amplified


def test_audio_tag_normalises_only_audio_that_would_clip():
    x = torch.tensor([0.0, 2.0, -1.0, 0.5] * 100)
    (uri,) = sources(report.audio_tag(x, 22050))
    audio, rate = sf.read(io.BytesIO(decode(uri, "data:audio/wav;base64,")))
    assert rate == 22050
    np.testing.assert_allclose(audio, x.numpy() / 2, atol=1 / 32768)


def test_figures_are_png_data_uris():
    x = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    tags = [report.spectrogram_tag({"a": x, "b": 0.5 * x}, 16000),
            report.curves_tag(250.0, {"f0": torch.full((100,), 220.0)}, {"loudness": torch.linspace(-60, -20, 100)}),
            report.distribution_tag(torch.softmax(torch.randn(1, 100, 20), -1), 250.0)]
    for tag in tags:
        (uri,) = sources(tag)
        assert decode(uri, "data:image/png;base64,")[:8] == PNG_MAGIC


def test_loss_curve_from_the_log_and_without_one(tmp_path):
    assert "no loss log" in report.loss_curve_tag(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("step,loss,learning_rate\n")
    assert "no loss log" in report.loss_curve_tag(tmp_path / "empty.csv")
    rows = "".join(f"{i},{3.0 / (1 + i):.6f},0.001\n" for i in range(40))
    (tmp_path / "losses.csv").write_text("step,loss,learning_rate\n" + rows)
    (uri,) = sources(report.loss_curve_tag(tmp_path / "losses.csv"))
    assert decode(uri, "data:image/png;base64,")[:8] == PNG_MAGIC


@pytest.mark.parametrize("damage", ["40,", "40", "\n", "40,0.1", "x,y,z"])
def test_a_torn_log_row_does_not_break_the_report(tmp_path, damage):
    """Probe of issue 12: a torn last row made every later resynth/transfer/demo crash in the report."""
    rows = "".join(f"{i},{3.0 / (1 + i):.6f},0.001\n" for i in range(40))
    (tmp_path / "losses.csv").write_text("step,loss,learning_rate\n" + rows + damage)
    (uri,) = sources(report.loss_curve_tag(tmp_path / "losses.csv"))
    assert decode(uri, "data:image/png;base64,")[:8] == PNG_MAGIC


def test_write_report_orders_sections_and_escapes_text(tmp_path):
    path = report.write_report(tmp_path / "sub" / "r.html", "Run <1> & co",
                               [("First", "<p>one</p>"), ("Second <b>", "<p>two</p>")])
    page = path.read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<title>Run &lt;1&gt; &amp; co</title>" in page and "<h1>Run &lt;1&gt; &amp; co</h1>" in page
    assert page.index("<h2>First</h2>") < page.index("<h2>Second &lt;b&gt;</h2>")
    assert page.count("<section>") == 2
    assert_self_contained(page)


def test_table_formats_floats_and_escapes_cells():
    table = report.table_html([{"file": "a<b>.wav", "mss": 1.234567, "n": 3}])
    assert "<th>file</th><th>mss</th><th>n</th>" in table
    assert "<td>a&lt;b&gt;.wav</td><td>1.235</td><td>3</td>" in table
    assert report.table_html([]) == ""


@pytest.fixture
def untrained(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(hidden=16, mlp_layers=1, n_harmonics=8, n_noise_bands=9, reverb_seconds=0.05)
    (tmp_path / "losses.csv").write_text("step,loss,learning_rate\n0,5.0,0.001\n1,4.0,0.001\n")
    return TrainedModel(DDSPAutoencoder(config).eval(), {"loudness_mean": -100.0, "f0_midi_p50": 57.0}, "yin", tmp_path)


def test_run_report_has_players_figures_and_sections(untrained, tmp_path):
    frames = 100
    f0, loud = torch.full((frames,), 220.0), torch.linspace(-110, -90, frames)
    with torch.no_grad():
        output = untrained.model(f0[None], loud[None], noise_seed=0)[0]
    audio = 0.3 * torch.sin(2 * torch.pi * 220 * torch.arange(frames * 64) / 16000)
    resynthesis = {"audio": audio, "output": output, "f0_hz": f0, "loudness_db": loud}
    moved = {**resynthesis, "f0_shifted": f0 / 2, "loudness_shifted": loud + 3, "octave_shift": -1,
             "loudness_shift_db": 3.0}
    items = [resynthesis_item(untrained, "Resynthesis of <x>.wav", resynthesis),
             transfer_item(untrained, "Timbre transfer", moved)]
    page = run_report(untrained, items, tmp_path / "report.html", "demo",
                      [{"file": "x.wav", "mss": 1.5}]).read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["Metrics", "Resynthesis of &lt;x&gt;.wav", "Timbre transfer", "Training loss"]
    assert_self_contained(page)
    uris = sources(page)
    wavs = [u for u in uris if u.startswith("data:audio/wav")]
    pngs = [u for u in uris if u.startswith("data:image/png")]
    assert len(wavs) == 4                                   # input + output for each item
    assert len(pngs) == 2 * 3 + 1                           # spectrogram, curves, distribution; loss curve
    for uri in wavs:
        data, rate = sf.read(io.BytesIO(decode(uri, "data:audio/wav;base64,")))
        assert rate == 16000 and len(data) == frames * 64 and np.isfinite(data).all()
    for uri in pngs:
        assert decode(uri, "data:image/png;base64,")[:8] == PNG_MAGIC
    assert "<td>x.wav</td><td>1.5</td>" in page
