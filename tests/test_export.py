"""Exports: TorchScript and ONNX files reproduce the model's forward, its step-by-step
generation with explicit state, and its upsampler; the command's errors are one line."""

import importlib.util
import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from wavedil import WaveNet, WaveNetConfig
from wavedil.cli import app
from wavedil.wavenet.engines import make_engine
from wavedil.export import export
from wavedil.wavenet.export import StepFunction, example_inputs
from wavedil.checkpoint import load_model
from wavedil.train import recipe_from_dict, train

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

ONNX_MISSING = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
FORMATS = ["torchscript", pytest.param("onnx", marks=pytest.mark.skipif(
    bool(ONNX_MISSING), reason=f"ONNX export tests need {', '.join(ONNX_MISSING)} "
                               "(pip install 'wavedil[export]')"))]
T, B = 50, 3
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and a busy machine's cores stay free."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A trained (two steps) mel-conditioned mu-law model's checkpoint."""
    root = tmp_path_factory.mktemp("export")
    raw = {
        "data": {"path": "embedded", "hop_length": 16, "n_mels": 8, "crop": 256,
                 "corpus_low": 60, "corpus_high": 61, "corpus_timbres": 1, "corpus_takes": 2,
                 "validation_fraction": 0.34, "cache_dir": str(root / "cache")},
        "model": {"layers": 4, "cycle_length": 2, "kernel_size": 3, "residual_channels": 8,
                  "gate_channels": 16, "skip_channels": 16, "head": "categorical", "classes": 64,
                  "local_channels": 8, "cond_channels": 8, "hop_length": 16},
        "train": {"steps": 2, "batch_size": 2, "validate_every": 2, "checkpoint_every": 2,
                  "sample_seconds": 0.01, "run_dir": str(root / "run")},
        "generate": {"engine": "torch"},
    }
    train(recipe_from_dict(raw, "tiny"), echo=lambda _: None)
    return root / "run" / "best.pt"


def mol_model() -> WaveNet:
    """A mixture-of-logistics model on samples, mel- and speaker-conditioned, weight-normed."""
    torch.manual_seed(3)
    return WaveNet(WaveNetConfig(
        layers=5, cycle_length=3, kernel_size=2, residual_channels=8, gate_channels=16,
        skip_channels=16, head="logistic_mixture", mixtures=3, local_channels=6,
        cond_channels=8, hop_length=8, speakers=3, speaker_channels=4, weight_norm=True)).eval()


def loader(fmt, manifest, name, path):
    """Call an exported function with inputs in the manifest's order -> list of tensors."""
    names = [s["name"] for s in manifest["inputs"][name]]
    if fmt == "torchscript":
        module = torch.jit.load(str(path))
        return lambda *args: list(module(*args)) if name == "step" else [module(*args)]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names
    assert [o.name for o in session.get_outputs()] == [s["name"] for s in manifest["outputs"][name]]
    return lambda *args: [torch.from_numpy(o) for o in
                          session.run(None, {n: a.numpy() for n, a in zip(names, args)})]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["categorical", "logistic_mixture"])
def test_exports_match_forward_and_step(tmp_path, checkpoint, fmt, kind):
    if kind == "categorical":
        source = checkpoint
        model = load_model(checkpoint).model
    else:
        source = model = mol_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    files = export(source, fmt, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    expected = ["model", "step", "upsample"]
    assert [f.name for f in files] == [manifest["files"][n] for n in expected] + ["export.json"]
    assert manifest["head"] == kind and manifest["receptive_field"] == model.receptive_field
    if source is checkpoint:  # what a front end must compute to feed it, every mel setting
        data = load_model(checkpoint).data
        assert manifest["features"] == json.loads(json.dumps(
            {**data.log_mel().settings(), "mel_preset": None, "normalise_peak": data.peak,
             "f0": None, "layout": manifest["features"]["layout"]}))
        assert manifest["features"]["n_fft"] == data.fft_size and manifest["features"]["mel_log"] == "db01"
    else:
        assert manifest["features"] is None  # a bare model carries no data settings
    # exporting leaves the model as it was (weight norm included)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    run = {n: loader(fmt, manifest, n, tmp_path / "out" / manifest["files"][n]) for n in expected}

    # full sequence, at a batch size and length other than the ones exported with
    args = example_inputs(model, "model", batch_size=B, length=T,
                          generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        reference = model(*args)  # (B, out, T)
        cond = model.upsample(args[1])  # (B, Cc, frames * hop)
    (full,) = run["model"](*args)
    assert full.shape == reference.shape
    assert (full - reference).abs().max() < 1e-4
    (upsampled,) = run["upsample"](args[1])
    assert (upsampled - cond).abs().max() < 1e-4

    # step by step from zero state: the outputs equal the forward's, the state model.step's
    x, speaker = args[0], args[2:]
    states = [torch.zeros(s) for s in StepFunction(model).state_shapes(B)]
    assert [[B if d == "B" else d for d in s["shape"]] for s in
            manifest["inputs"]["step"][1:1 + len(states)]] == [list(s.shape) for s in states]
    ref_state = model.init_state(B)
    outs = []
    for t in range(T):
        out, *states = run["step"](x[:, t], *states, torch.tensor(t),
                                   cond[:, :, t].contiguous(), *speaker)
        outs.append(out)
        with torch.no_grad():
            model.step(x[:, t], ref_state, cond[:, :, t], *speaker)
    assert (torch.stack(outs, -1) - reference).abs().max() < 1e-4
    layout = manifest["state"]  # layer l's rows of the ring
    c = model.config
    assert layout["lengths"] == [(c.kernel_size - 1) * d for d in c.layer_dilations]
    # the exported step's ring is the module's state, row for row: one layout for both
    assert (states[0] - ref_state.ring).abs().max() < 1e-5


@pytest.mark.parametrize("k", [1, 2, 4])
def test_unconditioned_model_exports_two_functions(tmp_path, k):
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=3, kernel_size=k, residual_channels=4, gate_channels=8,
                                  skip_channels=8, classes=16)).eval()
    files = export(model, "torchscript", tmp_path)
    assert [f.name for f in files] == ["model.pt", "step.pt", "export.json"]
    step = torch.jit.load(str(tmp_path / "step.pt"))
    x = torch.randint(0, 16, (2, 12))
    states = [torch.zeros(s) for s in StepFunction(model).state_shapes(2)]
    outs = []
    for t in range(12):
        out, *states = step(x[:, t], *states, torch.tensor(t))
        outs.append(out)
    with torch.no_grad():
        assert (torch.stack(outs, -1) - model(x)).abs().max() < 1e-5


def test_step_function_is_the_engines_step():
    """The exported step runs the torch engine's step: the same logits, teacher-forced."""
    model = mol_model()
    x, local, speaker = example_inputs(model, "model", batch_size=B, length=T)
    with torch.no_grad():
        cond = model.upsample(local)[..., :T]
        engine = make_engine("torch", model, B, model.speaker_vector(speaker, B))
        engine.set_input(x[:, 0])
        forced = engine.force(torch.cat([x[:, 1:], x[:, :1]], 1), cond)  # (T, B, out)
        step = StepFunction(model)
        states = [torch.zeros(s) for s in step.state_shapes(B)]
        for t in range(T):
            out, *states = step(x[:, t], *states, torch.tensor(t), cond[..., t], speaker)
            assert (out - forced[t]).abs().max() <= 1e-6


def test_library_errors(tmp_path, monkeypatch):
    model = mol_model()
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export(model, "tflite", tmp_path)
    with pytest.raises(ValueError, match="no such checkpoint"):
        export(tmp_path / "missing.pt", "torchscript", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        export(model, "torchscript", tmp_path / "file")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'wavedil\[export\]'"):
        export(model, "onnx", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def one_line_exit_2(r, text):
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and r.stderr.strip().count("\n") == 0 and text in r.stderr, r.stderr
    assert "Traceback" not in r.output


def test_cli_export_and_its_errors(tmp_path, checkpoint):
    out = checkpoint.with_name("best-torchscript")
    r = runner.invoke(app, ["export", str(checkpoint), "--format", "torchscript", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["out"] == str(out) and [p.split("/")[-1] for p in d["files"]] == \
        ["model.pt", "step.pt", "upsample.pt", "export.json"]
    assert all((out / name).stat().st_size > 1000 for name in ("model.pt", "step.pt"))
    again = ["export", str(checkpoint), "-f", "torchscript"]
    one_line_exit_2(runner.invoke(app, again), "exists (use --force")
    r = runner.invoke(app, again + ["--force", "-o", str(tmp_path / "ts")])
    assert r.exit_code == 0 and (tmp_path / "ts" / "step.pt").exists()
    assert runner.invoke(app, again + ["--force"]).exit_code == 0
    one_line_exit_2(runner.invoke(app, ["export", str(checkpoint), "--format", "tflite"]),
                    "'tflite' is not one of 'torchscript', 'onnx', 'nam'")
    one_line_exit_2(runner.invoke(app, ["export", str(tmp_path / "none.pt"), "-f", "onnx"]),
                    "no such checkpoint")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    one_line_exit_2(runner.invoke(app, ["export", str(junk), "-f", "torchscript"]),
                    "not a readable checkpoint")
