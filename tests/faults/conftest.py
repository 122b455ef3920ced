"""Fixtures of the fault-injection suite (issue 12): ``recording`` (a short tone) and ``run_copy`` (a copy of
the shared trained run, to damage). The trained run and the prepared tone are the ``short_run`` and
``tone_data`` fixtures of ``tests/conftest.py``; the checks (``run_main``, ``run_cli``,
``assert_one_line_error``, ``run_capped``...) are in ``tests/helpers.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf

from helpers import harmonic_tone

SR = 16000


@pytest.fixture
def recording(tmp_path) -> Path:
    """A 0.3 s harmonic tone at 16 kHz, the input of the inference commands."""
    path = tmp_path / "take.wav"
    sf.write(str(path), harmonic_tone(seconds=0.3), SR)
    return path


@pytest.fixture
def run_copy(short_run, tmp_path) -> Path:
    """A copy of the shared trained run (checkpoints at steps 20, 30 and 40) that a test may damage."""
    copy = tmp_path / "run"
    shutil.copytree(short_run[0], copy)
    return copy
