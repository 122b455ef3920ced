import pytest
import soundfile as sf
import torch

from helpers import TINY, harmonic_tone, quiet

# Tests are deterministic and small; two threads match the CI machine.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tone_data(tmp_path_factory):
    """A prepared folder (yin features) of a 1.5 s synthetic harmonic tone at 16 kHz. Read only."""
    from torchddsp.data import prepare

    root = tmp_path_factory.mktemp("trainer_data")
    (root / "audio").mkdir()
    sf.write(str(root / "audio" / "tone.wav"), harmonic_tone(), 16000, subtype="FLOAT")
    prepare(root / "audio", root / "data", sample_rate=16000, example_seconds=1.0, progress=False, log=quiet)
    return root / "data"


@pytest.fixture(scope="session")
def short_run(tone_data, tmp_path_factory):
    """``(run_dir, config, result, messages)`` of 40 steps of the ``TINY`` model on ``tone_data``,
    checkpoints at steps 20, 30 and 40. Read only: copy the folder to change it."""
    from torchddsp.training import load_config, train

    run_dir = tmp_path_factory.mktemp("trainer_run") / "run"
    config = load_config("small", TINY + ["train.steps=40", "train.checkpoint_every=10"])
    threads = torch.get_num_threads()
    messages = []
    result = train(tone_data, run_dir, config, progress=False, log=messages.append)
    torch.set_num_threads(threads)
    return run_dir, config, result, messages


@pytest.fixture(autouse=True)
def restore_threads():
    """Every test leaves torch's thread count as it found it (``train()`` sets it for the whole process)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
