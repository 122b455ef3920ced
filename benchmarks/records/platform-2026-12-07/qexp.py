"""Same-weights experiment: train with a fixed step count, evaluate any run in the current tree."""
import json, sys, time
from pathlib import Path
import numpy as np, soundfile as sf, torch
try:
    from torchddsp.apps.inference import load_trained
    from torchddsp.apps.workflows import evaluate_audio
    from torchddsp.data import prepare
    from torchddsp.functional.core import resample
    from torchddsp.training import load_config, train
except ImportError:
    from torchddsp.inference import load_trained
    from torchddsp.workflows import evaluate_audio
    from torchddsp.data.prepare import prepare, resample
    from torchddsp.train import load_config, train

AUDIO = "/work/shared/audio/dev/fluid_violin.16k.flac"
def parts():
    audio, rate = sf.read(AUDIO, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    split = int(len(audio) * 0.8)
    return rate, {"train": audio[:split], "held": audio[split:]}

torch.set_num_threads(1)
mode = sys.argv[1]
if mode == "train":
    work, steps, seed = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rate, p = parts()
    (work / "audio").mkdir(parents=True, exist_ok=True)
    sf.write(work / "audio" / "train.wav", p["train"], rate, subtype="FLOAT")
    prepare(work / "audio", work / "data", sample_rate=rate, f0_method="crepe-tiny", f0_refine=False, progress=False)
    config = load_config("small", [f"train.steps={steps}", "train.time_limit_seconds=100000", "train.threads=1", f"train.seed={seed}"])
    t = time.time()
    r = train(work / "data", work / "run", config, resume=False, progress=False, log=lambda s: None)
    print("trained", r.get("step"), time.time() - t)
elif mode == "eval":
    run = Path(sys.argv[2])
    rate, p = parts()
    trained = load_trained(run)
    out = {}
    for name, x in p.items():
        v, _ = evaluate_audio(trained, x, rate)
        out[name] = {k: round(float(val), 4) for k, val in v.items() if isinstance(val, (int, float)) and k != "seconds"}
    print(json.dumps({"run": str(run), "tree": __import__("torchddsp").__file__, **out}))
