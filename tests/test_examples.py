"""The examples under examples/ run, learn, and use nothing but torch, numpy and wavedil."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
import torch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_timbre_classifier_imports_only_torch_numpy_wavedil():
    tree = ast.parse((EXAMPLES / "timbre_classifier.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0])
    assert roots <= {"torch", "numpy", "wavedil"}, roots


def test_timbre_classifier_data_are_plucks():
    tc = load("timbre_classifier")
    x, labels = tc.make_dataset(12, seed=3)
    assert x.shape == (12, 1, tc.CLIP_SAMPLES) and x.dtype == torch.float32
    assert set(labels.tolist()) <= set(range(len(tc.TIMBRES)))
    assert torch.allclose(x.std(-1), torch.ones(12, 1), atol=1e-2)  # equal loudness
    # a bright pluck is nearly periodic: it correlates with itself one delay line later,
    # and not half a period later
    y = tc.pluck(np.array([200.0]), np.array([0.1]), np.array([0.998]), np.array([0.0]), 400,
                 np.random.default_rng(0))[0]
    L = round(tc.SAMPLE_RATE / 200.0)
    assert np.corrcoef(y[L:L + 200], y[2 * L:2 * L + 200])[0, 1] > 0.95
    assert abs(np.corrcoef(y[L:L + 200], y[L + L // 2:L + L // 2 + 200])[0, 1]) < 0.5


def test_timbre_classifier_learns():
    tc = load("timbre_classifier")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only contend on a shared machine
    try:
        losses = tc.train(30, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
