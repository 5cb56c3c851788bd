"""The engine's C matrix kernel: exact products on every block shape, the same logits as the
forward with and without it."""

import ctypes

import numba
import numpy as np
import pytest
import torch

from wavedil import WaveNet, WaveNetConfig, generate, mulaw_encode
from wavedil.native import kernel as native
from wavedil.wavenet.engines import make_engine, resolve_kernel

KERNEL = native.load()
needs_cc = pytest.mark.skipif(not KERNEL.available, reason=KERNEL.status)


GEMM = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, ctypes.c_void_p, ctypes.c_int64,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


@needs_cc
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 16])
@pytest.mark.parametrize("N,K", [(16, 64), (128, 64), (40, 7), (3, 300), (80, 600)])
def test_gemm_matches_numpy(packed, M, N, K):
    """C += A @ B with leading dimensions larger than the widths: every block and tail, K
    longer than a K block, and B plain or packed in panels."""
    if packed and N % native.PANEL:
        pytest.skip("packed B needs N a multiple of the panel width")
    rng = np.random.default_rng(M * 1000 + N + K)
    A = rng.standard_normal((M, K + 3)).astype(np.float32)
    B = rng.standard_normal((K, N + 5)).astype(np.float32)
    C = rng.standard_normal((M, N + 2)).astype(np.float32)
    want = C.copy()
    want[:, :N] += A[:, :K].astype(np.float64) @ B[:, :N].astype(np.float64)
    if packed:
        B = native.pack(np.ascontiguousarray(B[:, :N]))
    fn = GEMM(KERNEL.gemm_packed if packed else KERNEL.gemm)
    fn(M, N, K, A.ctypes.data, K + 3, B.ctypes.data, N + 5, C.ctypes.data, N + 2)
    assert np.abs(C - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert (C[:, N:] == want[:, N:]).all()  # nothing written past N


@pytest.mark.parametrize("batch", [1, 7, 13])
@pytest.mark.parametrize("kernel", ["c", "numba"])
@pytest.mark.parametrize("gate", [48, 20])
def test_engine_logits_with_and_without_the_kernel(batch, kernel, gate):
    """Widths of 16 and more and 7 or 13 streams reach the 6x16 and 4x16 blocks; 20 gate
    channels the unpacked products and the C gate's padded last lanes (10 of them)."""
    if kernel == "c" and not KERNEL.available:
        pytest.skip(KERNEL.status)
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=4, cycle_length=2, kernel_size=3, residual_channels=16,
                                  gate_channels=gate, skip_channels=32, head="categorical",
                                  classes=40)).eval()
    T = 30
    v = torch.randint(0, 40, (batch, T))
    with torch.no_grad():
        full = model(v)
    eng = make_engine("numba", model, batch, kernel=kernel)
    assert eng.kernel.available == (kernel == "c")
    eng.set_input(v[:, 0])
    logits = eng.force(torch.cat([v[:, 1:], v[:, :1]], 1))
    assert (logits.permute(1, 2, 0) - full).abs().max() <= 1e-5


def test_an_unavailable_kernel_says_why(tmp_path):
    missing = native.load(str(tmp_path / "no-such-cc"), tmp_path)
    assert not missing.available and missing.gemm == 0
    assert "no-such-cc" in missing.status and missing.status.startswith("numba loops")
    with pytest.raises(ValueError, match=r"kernel='c': the C kernel is unavailable: .*no-such-cc"):
        resolve_kernel("c", "numba", missing)
    assert resolve_kernel("auto", "numba", missing) is missing
    assert not resolve_kernel("numba", "numba").available
    with pytest.raises(ValueError, match="kernel must be one of auto, c, numba; got 'fortran'"):
        generate(WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4,
                                       skip_channels=4)), 8, kernel="fortran")
    with pytest.raises(ValueError, match="torch engine"):
        resolve_kernel("c", "torch")
    assert resolve_kernel("auto", "torch") is None
    # the engine given an unavailable kernel runs numba's loops, with the same samples
    model = WaveNet(WaveNetConfig(layers=3, residual_channels=16, gate_channels=32,
                                  skip_channels=16, classes=32)).eval()
    runs = [generate(model, 50, 2, generator=torch.Generator().manual_seed(0), engine="numba",
                     kernel=k) for k in (missing, "auto")]
    assert (runs[0] - runs[1]).abs().max() <= 1e-4


# ---- compact weights: bfloat16 matrices, read by the C kernel in half the bytes


def test_bf16_rounding_is_torchs():
    """to_bf16 rounds to nearest, ties to even, as torch does; from_bf16 inverts it exactly on
    values that are already bfloat16."""
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.standard_normal(5000).astype(np.float32) * 10.0 ** rng.integers(-8, 8, 5000),
                        # ties: the low 16 bits exactly half, with even and odd bit 16
                        (np.array([0x3F808000, 0x3F818000, 0xBF808000], np.uint32)).view(np.float32)])
    got = native.from_bf16(native.to_bf16(w))
    want = torch.from_numpy(w).to(torch.bfloat16).float().numpy()
    assert np.array_equal(got, want)
    assert np.array_equal(native.to_bf16(got), native.to_bf16(w))  # exact on bf16 values
    assert np.abs(got - w).max() <= np.abs(w).max() * 2.0 ** -8


@needs_cc
@pytest.mark.parametrize("M", [1, 2, 4, 5, 6, 7, 13])
@pytest.mark.parametrize("N,K", [(16, 64), (128, 64), (32, 7), (80, 600)])
def test_bf16_gemm_matches_numpy(M, N, K):
    """The packed bf16 product equals float64 numpy on the bf16 values of B, every block and
    tail, K longer than a K block."""
    rng = np.random.default_rng(M * 1000 + N + K)
    A = rng.standard_normal((M, K + 3)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C = rng.standard_normal((M, N + 2)).astype(np.float32)
    want = C.copy()
    want[:, :N] += A[:, :K].astype(np.float64) @ native.from_bf16(native.to_bf16(B)).astype(np.float64)
    packed = native.pack_bf16(native.to_bf16(B))
    assert packed.dtype == np.uint16
    GEMM(KERNEL.gemm_packed_bf16)(M, N, K, A.ctypes.data, K + 3, packed.ctypes.data, N,
                                  C.ctypes.data, N + 2)
    assert np.abs(C - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert (C[:, N:] == want[:, N:]).all()


# ---- bf16-dot: the products' inputs rounded to bfloat16 too, multiplied in pairs


def dot_check(kernel_address, pack, M, N, K, seed):
    """C += bf16(A) @ B through wd_gemm_packed_dot at ``kernel_address``, B laid out by
    ``pack``, against float64 numpy on the same rounded values; returns the largest error
    relative to the result."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K + 3)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C = rng.standard_normal((M, N + 2)).astype(np.float32)
    want = C.copy()
    a16 = native.from_bf16(native.to_bf16(A[:, :K])).astype(np.float64)
    want[:, :N] += a16 @ native.from_bf16(native.to_bf16(B)).astype(np.float64)
    packed = pack(native.to_bf16(B))
    GEMM(kernel_address)(M, N, K, A.ctypes.data, K + 3, packed.ctypes.data, N, C.ctypes.data,
                         N + 2)
    assert (C[:, N:] == want[:, N:]).all()  # nothing written past N
    return float(np.abs(C - want).max() / max(1.0, np.abs(want).max()))


@needs_cc
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 8, 9, 12, 16, 17, 33])
@pytest.mark.parametrize("N,K", [(16, 2), (16, 64), (128, 64), (48, 130), (32, 600)])
def test_dot_gemm_matches_numpy_on_the_rounded_values(M, N, K):
    """Every row block (8, 4, 3, 2, 1 rows; 16-row conversions), K longer than a K block and
    not a multiple of the 32-value conversion: the same sums as float64 on bf16(A), bf16(B)."""
    pack = native.pack_pairs if KERNEL.dot_native else native.pack_bf16
    assert dot_check(KERNEL.gemm_packed_dot, pack, M, N, K, M * 1000 + N + K) <= 1e-5


@needs_cc
def test_dot_gemm_without_avx512_bf16_makes_the_same_products(tmp_path):
    """The kernel built without the dot-product instruction (A's rounded rows through the bf16
    kernel's float32 FMAs, B in its layout) passes the same checks: what a CPU without
    AVX512-BF16 runs."""
    import subprocess

    lib = tmp_path / "libwdfallback.so"
    from wavedil.native import build as cbuild

    try:
        subprocess.run([KERNEL.compiler, *cbuild.FLAGS, "-mno-avx512bf16", "-o", str(lib),
                        *map(str, native.SOURCES)], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"the compiler cannot leave AVX512-BF16 out: {e}")
    fallback = native.kernel(ctypes.CDLL(str(lib)), KERNEL.compiler)
    assert not fallback.dot_native
    for M, N, K in [(1, 16, 2), (3, 48, 130), (4, 16, 64), (9, 32, 600), (16, 128, 64)]:
        got = dot_check(fallback.gemm_packed_dot, native.pack_bf16, M, N, K, M + N + K)
        assert got <= 1e-5, (M, N, K)
    # the engine holds its weights in the fallback's layout: the torch engine's bf16-dot logits
    # (batch 7 through stack.c and the output network; batch 1 shared by two threads)
    model = paired_model()
    for batch in (1, 7):
        v = torch.randint(0, model.config.classes, (batch, 40))
        forced = torch.cat([v[:, 1:], v[:, :1]], 1)
        out = []
        numba_engine = make_engine("numba", model, batch, kernel=fallback, weights="bf16-dot")
        assert numba_engine.compact and numba_engine.paired == (batch == 1)
        for eng in (numba_engine, make_engine("torch", model, batch, weights="bf16-dot")):
            eng.set_input(v[:, 0])
            out.append(eng.force(forced))
        scale = max(1.0, float(out[1].abs().max()))
        assert (out[0] - out[1]).abs().max() <= 2e-3 * scale, batch


def test_pack_pairs_layout():
    """Word j of pair row i of panel p: column 16p + j of rows 2i (low) and 2i + 1 (high)."""
    h = np.arange(6 * 32, dtype=np.uint16).reshape(6, 32)
    words = native.pack_pairs(h).reshape(-1).view(np.uint32)
    p, i, j = 1, 2, 5
    word = int(words[p * 6 * 8 + i * 16 + j])
    assert word & 0xFFFF == h[2 * i, 16 * p + j] and word >> 16 == h[2 * i + 1, 16 * p + j]
    with pytest.raises(ValueError, match="K=5 is not even"):
        native.pack_pairs(h[:5])


def small(**kw):
    torch.manual_seed(0)
    cfg = dict(layers=4, cycle_length=2, kernel_size=3, residual_channels=16, gate_channels=48,
               skip_channels=32, head="categorical", classes=48)
    return WaveNet(WaveNetConfig(**{**cfg, **kw})).eval()


def forced_logits(batch, widths):
    """Teacher-forced logits (n, B, out) of a small model from the torch and numba engines in
    every weight format, keyed (engine, weights), and the numba engines by weights. widths:
    "panels" (every width a multiple of the C kernel's panels) or "odd" (12 residual
    channels: float32 matrices and numba's loops)."""
    from wavedil.wavenet.plan import WEIGHTS

    model = small() if widths == "panels" else small(residual_channels=12, classes=40)
    v = torch.randint(0, model.config.classes, (batch, 40))
    forced = torch.cat([v[:, 1:], v[:, :1]], 1)
    out, numba_engines = {}, {}
    for name in ("torch", "numba"):
        for weights in WEIGHTS:
            eng = make_engine(name, model, batch, weights=weights)
            if name == "numba":
                numba_engines[weights] = eng
            eng.set_input(v[:, 0])
            out[name, weights] = eng.force(forced)
    return out, numba_engines


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("widths", ["panels", "odd"])
def test_bf16_engines_agree_and_stay_near_fp32(batch, widths):
    """bf16 weights: the numba engine (compact where the widths fit the C kernel's panels,
    float32 copies of the same values otherwise) gives the torch engine's bf16 logits to the
    fp32 tolerance, and both stay within bf16's rounding of the fp32 logits."""
    out, engines = forced_logits(batch, widths)
    assert engines["bf16"].compact == (widths == "panels" and KERNEL.compact)
    assert not engines["fp32"].compact
    scale = float(out["torch", "fp32"].abs().max())
    assert (out["numba", "bf16"] - out["torch", "bf16"]).abs().max() <= 1e-5 * max(1.0, scale)
    gap = float((out["numba", "bf16"] - out["numba", "fp32"]).abs().max())
    assert 0 < gap <= 0.02 * scale  # rounded, and not by much


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("widths", ["panels", "odd"])
def test_bf16_dot_engines_agree_and_stay_near_fp32(batch, widths):
    """bf16-dot: the torch engine rounds the products' inputs, the numba engine's C kernel
    multiplies them in bfloat16 pairs (panels) or numba's loops round them (odd widths);
    the logits agree within a few roundings of an activation where the C kernel sums in
    another order (a value near a bfloat16 tie may round the other way), to the fp32
    tolerance with numba's loops, and stay near fp32 and near bf16 weights alone."""
    out, engines = forced_logits(batch, widths)
    eng = engines["bf16-dot"]
    assert eng.compact == (widths == "panels" and KERNEL.available)
    assert eng.options["round_inputs"] == (not eng.compact)
    scale = float(out["torch", "fp32"].abs().max())
    agree = float((out["numba", "bf16-dot"] - out["torch", "bf16-dot"]).abs().max())
    assert agree <= (2e-3 if eng.compact else 1e-5) * max(1.0, scale)
    for other in ("fp32", "bf16"):
        gap = float((out["numba", "bf16-dot"] - out["numba", other]).abs().max())
        assert 0 < gap <= 0.03 * scale, other  # rounded, and not by much


def test_bf16_plan_rounds_the_large_matrices_only():
    from wavedil.wavenet.plan import make_plan

    model = small(local_channels=5, cond_channels=8, hop_length=4)
    exact, compact = make_plan(model), make_plan(model, weights="bf16")
    for name in ("w_taps", "w_res", "w_skip", "w_out1", "w_out2"):
        a, b = getattr(exact, name), getattr(compact, name)
        assert torch.equal(b, b.to(torch.bfloat16).float()) and not torch.equal(a, b)
        assert (a - b).abs().max() <= a.abs().max() * 2.0 ** -8
    for name in ("b_taps", "b_res", "b_skip", "embed", "w_local"):
        assert torch.equal(getattr(exact, name), getattr(compact, name))
    assert not compact.round_inputs and make_plan(model, weights="bf16-dot").round_inputs
    with pytest.raises(ValueError, match="weights must be one of fp32, bf16, bf16-dot"):
        make_plan(model, weights="int4")


def test_bf16_through_generate_and_its_errors(tmp_path):
    from wavedil.wavenet.generate import GenerateConfig
    from wavedil.harmonic_noise.model import HarmonicNoiseConfig, HarmonicNoiseNet

    model = small()
    a = generate(model, 200, engine="numba", weights="bf16", generator=torch.Generator().manual_seed(1))
    b = generate(model, 200, engine="torch", weights="bf16", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # the same samples from either engine
    with pytest.raises(ValueError, match="weights must be one of"):
        generate(model, 10, weights="fp16")
    vocoder = HarmonicNoiseNet(HarmonicNoiseConfig(local_channels=10, hop_length=64, n_fft=256))
    with pytest.raises(ValueError, match="applies to autoregressive models"):
        generate(vocoder, 64, local=torch.zeros(1, 10, 2), weights="bf16")
    with pytest.raises(ValueError, match="weights"):
        GenerateConfig(weights="int8")


def test_both_weight_formats_run_one_compiled_loop():
    """fp32 and bf16 weights reach the compiled loop as the same array type (16-bit words), so
    an engine of either format after the other compiles nothing new."""
    from wavedil.wavenet.engines import numba_kernels

    model = small()
    make_engine("numba", model, 1, weights="fp32").sample(2, torch.rand(2, 1, 1))
    before = set(numba_kernels._group.signatures)
    for weights in ("bf16", "bf16-dot", "fp32"):
        eng = make_engine("numba", model, 1, weights=weights)
        eng.sample(2, torch.rand(2, 1, 1))
        assert set(numba_kernels._group.signatures) == before, weights


@needs_cc
@pytest.mark.parametrize("n", [2, 5, 40, 256, 257])
def test_the_c_categorical_draw_is_the_numba_and_torch_draw(n):
    """sampler.c against numba_kernels._inverse_cdf and heads._inverse_cdf on the same
    uniforms: the same index on every draw, for logits of every spread (terms that underflow
    included), temperatures around 1 and uniforms at and near the ends."""
    from numba import njit

    from wavedil.wavenet.engines import numba_kernels as K
    from wavedil.nn.heads import _inverse_cdf

    draw = njit(lambda logits, T, u, work: K._inverse_cdf(logits, 0, logits.shape[0], T, u,
                                                          work))
    c_draw = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double,
                              ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p)(KERNEL.sampler)
    rng = np.random.default_rng(n)
    work, out = np.empty(2 * n), np.zeros(1, np.int64)
    for trial in range(300):
        logits = (rng.standard_normal(n) * [0.1, 3.0, 40.0, 800.0][trial % 4]).astype(np.float32)
        T = [1.0, 0.7, 1.3][trial % 3]
        us = np.concatenate([[0.0, 1.0 - 1e-9], rng.random(6)])  # not within rounding of a boundary
        probs = torch.softmax(torch.from_numpy(logits).double() / T, -1).expand(len(us), -1)
        want = _inverse_cdf(probs, torch.from_numpy(us)).tolist()
        for u, expected in zip(us, want):
            c_draw(logits.ctypes.data, n, T, u, work.ctypes.data, out.ctypes.data)
            assert int(out[0]) == draw(logits, T, u, work) == expected, (trial, u)


@needs_cc
def test_the_c_categorical_draw_is_exact_to_float64_rounding():
    """Uniforms 1e-10 (relative) either side of a class boundary land either side of it: the C
    draw's exp and sums are accurate far beyond what a draw can show otherwise."""
    c_draw = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double,
                              ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p)(KERNEL.sampler)
    rng = np.random.default_rng(1)
    n = 256
    work, out = np.empty(2 * n), np.zeros(1, np.int64)
    for trial in range(200):
        logits = (rng.standard_normal(n) * [1.0, 5.0, 20.0][trial % 3]).astype(np.float32)
        e = np.exp(logits.astype(np.float64) - logits.max())
        cdf = np.cumsum(e) / e.sum()
        k = int(rng.integers(1, n - 1))
        if min(cdf[k + 1] - cdf[k], cdf[k] - cdf[k - 1]) < 1e-6 * cdf[k]:
            continue  # classes too small to part at this resolution
        for u, want in ((cdf[k] * (1 - 1e-10), k), (cdf[k] * (1 + 1e-10), k + 1)):
            c_draw(logits.ctypes.data, n, 1.0, u, work.ctypes.data, out.ctypes.data)
            assert int(out[0]) == want, (trial, k)


# ---- one stream's steps shared by two threads (stack.c's wd_pair_step)

def paired_model(**kw):
    """Widths of whole panels for each thread's half: gate 64, residual and skip 32, 64 classes."""
    torch.manual_seed(1)
    cfg = dict(layers=6, cycle_length=3, kernel_size=2, residual_channels=32, gate_channels=64,
               skip_channels=32, head="categorical", classes=64)
    model = WaveNet(WaveNetConfig(**{**cfg, **kw})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@needs_cc
@pytest.mark.skipif(numba.get_num_threads() < 2, reason="one numba thread: nothing to share")
@pytest.mark.parametrize("weights", ["fp32", "bf16", "bf16-dot"])
@pytest.mark.parametrize("cond", [{}, dict(local_channels=5, cond_channels=6, hop_length=4,
                                           upsample_scales=[2, 2])])
def test_a_shared_stream_is_one_threads_stream_bit_for_bit(weights, cond):
    """Two threads sharing a batch-1 step give the one-thread engine's samples, logits, ring and
    next input exactly, in several chunks; and the forward's logits to the usual tolerance."""
    model = paired_model(**cond)
    n = 88
    local = torch.randn(1, 5, n // 4) if cond else None
    up = model.upsample(local) if cond else None
    engines = [make_engine("numba", model, 1, weights=weights) for _ in range(2)]
    assert engines[0].paired
    engines[1].paired = False
    u = torch.rand(n, 1, 1, generator=torch.Generator().manual_seed(5))
    out = []
    for eng in engines:
        got = [eng.sample(k, u[lo:lo + k], None if up is None else up[..., lo:lo + k])
               for lo, k in ((0, 1), (1, 40), (41, 47))]
        out.append((torch.cat(got, 1), eng.state.ring.clone(), eng.state.next_input.clone()))
    for a, b in zip(*out):
        assert torch.equal(a, b)
    assert len(out[0][0].unique()) > 5  # a real stream, not a constant
    v = torch.randint(0, 64, (1, n), generator=torch.Generator().manual_seed(6))
    forced = []
    fresh = [make_engine("numba", model, 1, weights=weights) for _ in range(2)]
    fresh[1].paired = False
    for eng in fresh:
        eng.set_input(v[:, 0])
        forced.append(eng.force(torch.cat([v[:, 1:], v[:, :1]], 1), up))
    assert torch.equal(forced[0], forced[1])
    if weights == "fp32":
        with torch.no_grad():
            full = model(v, local)
        assert (forced[0].permute(1, 2, 0) - full).abs().max() <= 1e-5


@needs_cc
@pytest.mark.parametrize("cond", [{}, dict(local_channels=5, cond_channels=6, hop_length=4,
                                           upsample_scales=[2, 2])])
def test_every_back_end_runs_the_one_step(cond):
    """One plan, one random stream: WaveNet.step, the torch engine, the numba engine with its
    own loops and with the C kernel, and the batch-1 step shared by two threads draw the same
    samples, and every engine ends in the module's state (its ring and time)."""
    model = paired_model(**cond)
    n = 120
    local = torch.randn(1, 5, n // 4) if cond else None
    up = model.upsample(local) if cond else None
    u = torch.rand(n, 1, 1, generator=torch.Generator().manual_seed(7))
    silence = mulaw_encode(torch.zeros(1), model.config.classes)  # the first input, as generate's
    x, state, drawn = silence, model.init_state(1), []
    with torch.no_grad():
        for t in range(n):  # class input: each drawn class is the next input
            logits, state = model.step(x, state, None if up is None else up[..., t])
            x = model.head.sample(logits, u[t], 1.0).long()
            drawn.append(x)
    reference = torch.stack(drawn, 1)  # (1, n)
    engines = {"torch": make_engine("torch", model, 1),
               "numba loops": make_engine("numba", model, 1, kernel="numba"),
               "C kernel": make_engine("numba", model, 1, kernel="c")}
    engines["C kernel"].paired = False
    if numba.get_num_threads() >= 2:
        engines["C kernel, two threads"] = make_engine("numba", model, 1, kernel="c")
        assert engines["C kernel, two threads"].paired
    assert len(reference.unique()) > 5  # a real stream, not a constant
    for name, eng in engines.items():
        eng.set_input(silence)
        got = torch.cat([eng.sample(k, u[lo:lo + k], None if up is None else up[..., lo:lo + k])
                         for lo, k in ((0, 1), (1, 60), (61, 59))], 1)
        assert torch.equal(got.long(), reference), name
        assert int(eng.state.t) == state.steps, name
        assert (eng.state.ring - state.ring).abs().max() <= 1e-5, name


@needs_cc
def test_a_thread_that_waits_alone_takes_the_chunk_and_the_late_one_leaves():
    """wd_pair_join: alone past the wait, a thread runs the chunk itself (0); the one that comes
    later does nothing (-1); two that meet both share it (1)."""
    import threading
    import time

    join = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_double, ctypes.c_void_p)(
        KERNEL.pair_join)
    flags, role = np.zeros(24, np.int64), np.zeros(2, np.int64)
    start = time.perf_counter()
    join(flags.ctypes.data, 0.02, role.ctypes.data)
    assert role[0] == 0 and time.perf_counter() - start >= 0.02
    join(flags.ctypes.data, 0.02, role[1:].ctypes.data)
    assert role[1] == -1
    flags[:], role[:] = 0, 9
    threads = [threading.Thread(target=join, args=(flags.ctypes.data, 5.0, role[i:].ctypes.data))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(role) == [1, 1]


@needs_cc
def test_one_numba_thread_keeps_a_shareable_stream_on_it(monkeypatch):
    """With one numba thread the engine does not share the stream; and a pool that runs both
    parts on one thread anyway (numba told the engine two) costs one wait, then the engine
    stops sharing: the same samples either way."""
    from wavedil.wavenet.engines import numba_engine

    model = paired_model()
    u = torch.rand(30, 1, 1, generator=torch.Generator().manual_seed(2))
    want = make_engine("numba", model, 1).sample(30, u)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert torch.equal(make_engine("numba", model, 1).sample(30, u), want)
        monkeypatch.setattr(numba_engine.numba, "get_num_threads", lambda: 2)
        eng = make_engine("numba", model, 1)
        assert eng.paired
        assert torch.equal(torch.cat([eng.sample(15, u[:15]), eng.sample(15, u[15:])], 1), want)
        assert not eng.paired
    finally:
        monkeypatch.undo()
        numba.set_num_threads(before)


@pytest.mark.parametrize("engine", ["torch", "numba"])
def test_an_engine_refuses_conditioning_of_another_length(engine):
    """Conditioning for fewer samples than steps was read past its end by the numba engine."""
    model = paired_model(local_channels=5, cond_channels=6, hop_length=4, upsample_scales=[2, 2])
    cond = model.upsample(torch.randn(1, 5, 2))  # 8 samples
    eng = make_engine(engine, model, 1)
    with pytest.raises(ValueError, match="conditioning for 8 samples given for 9 steps"):
        eng.sample(9, torch.rand(9, 1, 1), cond)
    with pytest.raises(ValueError, match="for 7 steps"):
        eng.force(torch.zeros(1, 7, dtype=torch.long), cond)


TAPS = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 5, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


def _taps_check(kernel: native.Kernel) -> None:
    """wd_gemm_taps (a dilated convolution's taps in one pass) equals wd_gemm called tap by
    tap, bit for bit, for rows that fill the tiles and rows left over, 16 to 96 columns, K
    past a K block, one to six taps."""
    taps, gemm = TAPS(kernel.gemm_taps), GEMM(kernel.gemm)
    for M in (1, 3, 4, 5, 7, 8, 9, 13, 16, 17, 24):
        for N, K, T, d in [(16, 16, 3, 1), (64, 16, 3, 7), (48, 5, 2, 32), (96, 300, 2, 3),
                           (32, 1, 6, 2), (80, 8, 1, 0)]:
            rng = np.random.default_rng(M * 100 + N + K + T)
            A = rng.standard_normal((T, M, K)).astype(np.float32)
            ldb = N + (T - 1) * d + 5
            B = rng.standard_normal((K, ldb)).astype(np.float32)
            ldc = N + 3
            C = rng.standard_normal((M, ldc)).astype(np.float32)
            want = C.copy()
            for t in range(T):
                a = np.ascontiguousarray(A[t])
                gemm(M, N, K, a.ctypes.data, K, B[:, t * d:].ctypes.data, ldb, want.ctypes.data,
                     ldc)
            taps(M, N, K, T, d, A.ctypes.data, B.ctypes.data, ldb, C.ctypes.data, ldc)
            assert np.array_equal(C, want), (M, N, K, T, d)


@needs_cc
def test_the_taps_product_is_the_tap_by_tap_product_bit_for_bit():
    _taps_check(KERNEL)


@needs_cc
def test_the_taps_product_without_avx512_is_the_tap_by_tap_product_too(tmp_path):
    """The kernel as a CPU without AVX-512 builds it (tiles of 8-float vectors)."""
    import subprocess

    from wavedil.native import build as cbuild

    lib = tmp_path / "libwdavx2.so"
    try:
        subprocess.run([KERNEL.compiler, *cbuild.FLAGS, "-mno-avx512f", "-o", str(lib),
                        *map(str, native.SOURCES)], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"the compiler cannot leave AVX-512 out: {e}")
    _taps_check(native.kernel(ctypes.CDLL(str(lib)), KERNEL.compiler))
