"""The training loop: recipe in, checkpoints, metrics, samples and a learning curve out.

    wavedil train recipes/quickstart.yaml [--resume] [--set train.lr=3e-4]
    torchrun --nproc-per-node 2 -m wavedil train recipes/quickstart.yaml

Everything a step depends on is a function of the step number (the crops of step s are
items s*B .. s*B+B-1 of a seeded stream), and every checkpoint holds the model, EMA,
optimiser, scheduler and random states, so on the CPU a resumed run reproduces the losses of
an uninterrupted one. SIGINT or SIGTERM ends the run at the end of the current step with a
checkpoint.
"""

from __future__ import annotations

import copy
import math
import shutil
import signal
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ..dsp.audio import save_audio
from ..checkpoint import checkpoint_dict, save_checkpoint
from ..data import FixedCrops, PreparedData, RandomCrops
from ..effect.paired import PairedData
from ..families import generate
from ..families import build_model, family_of
from . import checkpoint as ckpt_io
from .adversarial import Adversary, Diverged
from .allocator import keep_freed_memory
from .clipping import GradientClip
from .distributed import Dist
from .objective import Objective, collate
from .prepare import prepare_data
from ..plots import plot_losses, plot_spectrogram
from .recipe import Recipe, save_recipe
from .validation import validation_loss
from .report import Metrics


@dataclass
class TrainResult:
    """What a finished (or interrupted) run reports."""

    run_dir: Path
    step: int
    untrained_val: float | None
    """Validation figures in ``unit``: before training, at the end, the best."""
    final_val: float | None
    best_val: float | None
    checkpoint: Path | None
    interrupted: bool
    seconds: float
    unit: str = "bits"
    """What the validation figures are (wavedil.families.validation_key): bits (a WaveNet's NLL
    per sample), stft (a vocoder's spectral loss) or esr (an effect's error-to-signal ratio)."""


def lr_factor(step: int, cfg) -> float:
    """Warm-up then decay: the multiplier of the peak learning rate at ``step``."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    if cfg.schedule == "cosine":
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.min_lr_ratio ** progress


class _Stop:
    """Turns SIGINT/SIGTERM into a request to stop after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = {}

    def __enter__(self) -> "_Stop":
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this step and writing a checkpoint",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class FlushDenormals:
    """Subnormal floats flushed to zero in this thread while a run trains (:meth:`Trainer.run`;
    wrap :meth:`Trainer.train_step` called alone in it too), the setting restored after: they
    (a tiny scale's gradients, then Adam's moments of them) cost a hundred times a normal float
    on x86, and flushed to zero they change nothing measurable."""

    def __enter__(self) -> None:
        # torch has no getter: a subnormal float32 reads back as 0 where they are flushed
        self.was = torch.tensor(1e-39).item() == 0.0
        torch.set_flush_denormal(True)

    def __exit__(self, *exc) -> None:
        torch.set_flush_denormal(self.was)


class Trainer:
    """One run: built from a recipe, advanced with :meth:`run`."""

    def __init__(self, recipe: Recipe, resume: bool = False, force: bool = False,
                 echo: Callable[[str], None] = print) -> None:
        self.recipe, self.echo = recipe, echo
        t = self.tc = recipe.train
        self.dist = Dist.from_env(t.device)
        self.device = self.dist.device
        if t.threads:
            torch.set_num_threads(t.threads)
        keep_freed_memory()  # every step's large tensors reuse the last step's pages
        if t.batch_size % self.dist.world:
            raise ValueError(f"train.batch_size ({t.batch_size}) must be divisible by the number "
                             f"of processes ({self.dist.world})")
        if t.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("train.precision=fp16 needs CUDA; use fp32 or bf16 on the CPU")
        self.run_dir = recipe.run_dir
        self.ckpt_dir = self.run_dir / "checkpoints"
        self._claim_run_dir(resume, force)

        torch.manual_seed(t.seed)
        mc = recipe.model
        self.family = family_of(mc)
        self.data: PreparedData | PairedData = prepare_data(recipe)
        for name, lag in getattr(self.data, "latencies", {}).items():  # an effect's pairs
            self.echo(f"{name}: {lag} samples of target latency removed")
        self.objective = Objective.for_config(mc, self.data.config.crop, t)
        if mc.speakers and len(self.data.speakers) > mc.speakers:
            raise ValueError(f"model.speakers is {mc.speakers} but the data has "
                             f"{len(self.data.speakers)} speakers: {self.data.speakers[:8]}")
        self.train_set = RandomCrops(self.data, self.data.train)
        self.val_set = (FixedCrops(self.data, self.data.validation, t.validation_crops)
                        if self.data.validation else None)

        self.model = build_model(mc).to(self.device)
        self.ema = copy.deepcopy(self.model).eval() if t.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.net = self.dist.wrap(self.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, betas=tuple(t.betas),
                                     weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, t))
        self.scaler = torch.amp.GradScaler("cuda", enabled=t.precision == "fp16")
        self.clip = GradientClip(t.grad_clip, t.grad_clip_quantile)
        self.adversary = self._new_adversary() if recipe.adversarial.enabled else None
        self.step = 0
        self.best_val: float | None = None
        self.best_step = -1  # the step whose weights scored best_val
        self.untrained_val: float | None = None
        self.last_val: float | None = None
        self.trained_seconds = 0.0
        """Seconds the run had trained before this process (from the checkpoint resumed)."""
        self.started = time.perf_counter()
        """When this process began training (reset by :meth:`run`)."""
        if resume:
            self._resume()
        self.metrics = Metrics(self.run_dir, enabled=self.dist.is_main)
        if self.dist.is_main:  # the resolved recipe this run (or its resumption) started from
            save_recipe(recipe, self.run_dir / "recipe.yaml")

    # -- set-up ---------------------------------------------------------------------------

    def _new_adversary(self) -> Adversary:
        """Fresh discriminators for the recipe's adversarial section, on the run's schedule."""
        return Adversary(self.recipe.adversarial, lambda s: lr_factor(s, self.tc), self.device,
                         self.dist.wrap)

    def _claim_run_dir(self, resume: bool, force: bool) -> None:
        existing = ckpt_io.step_checkpoints(self.ckpt_dir) or (self.run_dir / "metrics.jsonl").exists()
        if existing and not resume and not force:
            raise ValueError(f"{self.run_dir} already holds a run; pass --resume to continue it "
                             "or --force to start over")
        if resume and not ckpt_io.step_checkpoints(self.ckpt_dir):
            raise ValueError(f"--resume: no checkpoint in {self.ckpt_dir}")
        if force and not resume and self.dist.is_main:
            for name in ("checkpoints", "samples", "tensorboard"):
                shutil.rmtree(self.run_dir / name, ignore_errors=True)
            for name in ("metrics.jsonl", "loss.png", "best.pt", "recipe.yaml"):
                (self.run_dir / name).unlink(missing_ok=True)
        self.dist.barrier()
        if self.dist.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)

    def _resume(self) -> None:
        found = ckpt_io.latest_readable(self.ckpt_dir)
        if found is None:
            raise ValueError(f"--resume: no readable checkpoint in {self.ckpt_dir}")
        path, ck = found
        if ck["recipe"]["model"] != self.recipe.model.to_dict():
            raise ValueError(f"--resume: the recipe's model section differs from {path}'s; "
                             "start a new run (another run_dir) to change the model")
        self.model.load_state_dict(ck["model"])
        if self.ema is not None and ck.get("ema") is not None:
            self.ema.load_state_dict(ck["ema"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.clip.load_state_dict(ck.get("clip"))
        if self.adversary is not None:
            if ck.get("adversary") is None:
                self.echo(f"{path} was trained without adversarial training: the "
                          "discriminators start fresh")
            else:
                try:
                    self.adversary.load_state_dict(ck["adversary"])
                except (RuntimeError, ValueError, KeyError):
                    self.adversary = self._new_adversary()
                    self.echo(f"{path}'s discriminators differ from the adversarial section's: "
                              "they start fresh")
        self.step = int(ck["step"])
        self.best_val = ck.get("best_val")
        self.best_step = int(ck.get("best_step", -1))
        self.untrained_val = ck.get("untrained_val")
        self.last_val = ck.get("last_val")
        self.trained_seconds = float(ck.get("trained_seconds", 0.0))
        rng = ck["rng"]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(rng["cuda"]))
        self.echo(f"resumed from {path} at step {self.step}")

    # -- pieces of a step --------------------------------------------------------------------

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """This process's share of the crops of ``step``."""
        B, n = self.tc.batch_size, len(self.train_set)
        lo = step * B + self.dist.rank * B // self.dist.world
        hi = step * B + (self.dist.rank + 1) * B // self.dist.world
        items = []
        for g in range(lo, hi):
            self.train_set.set_epoch(g // n)
            items.append(self.train_set[g % n])
        return {k: v.to(self.device) for k, v in collate(items).items()}

    def _autocast(self):
        if self.tc.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.tc.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _ema_update(self) -> None:
        if self.ema is None:
            return
        d = min(self.tc.ema_decay, (1 + self.step) / (10 + self.step))
        e = [p for p in self.ema.state_dict().values() if p.is_floating_point()]
        m = [p for p in self.model.state_dict().values() if p.is_floating_point()]
        torch._foreach_mul_(e, d)
        torch._foreach_add_(e, m, alpha=1 - d)

    def train_step(self) -> float | None:
        """One optimisation step; the loss as reported (bits for a WaveNet), or None when it
        was skipped."""
        self.model.train()
        batch = self.batch(self.step)
        with self._autocast():
            if self.adversary is not None and self.adversary.active(self.step):
                objective, est = self.objective.loss_and_output(self.net, batch)
                loss = objective
                if self.dist.all_finite(loss):  # a skipped step updates no discriminator
                    loss = loss + self.adversary.generator_term(est, batch["audio"], self.step)
            else:
                loss = objective = self.objective.loss(self.net, batch, self.recipe.model,
                                                       self.tc.input_noise)
        if not self.dist.all_finite(loss):
            self.opt.zero_grad(set_to_none=True)
            return None
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.clip.enabled:
            self.scaler.unscale_(self.opt)
            self.clip(self.model.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self._ema_update()
        # the objective's figure (an adversarial term is logged on its own)
        return self.objective.report(self.dist.mean(objective.detach()))

    def validate(self, model: torch.nn.Module | None = None) -> float | None:
        """The validation loss as reported (:func:`~wavedil.train.validation.validation_loss`):
        NLL in bits per sample for a WaveNet (EMA weights unless ``model`` is given)."""
        if self.val_set is None:
            return None
        return validation_loss(model or self.ema or self.model, self.objective, self.val_set,
                               self.tc.batch_size, self.tc.seed, self.device)

    def seconds_trained(self) -> float:
        """Wall-clock seconds the run has trained, in this process and the ones before it."""
        return self.trained_seconds + time.perf_counter() - self.started

    def checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        r = self.recipe
        state = checkpoint_dict(
            self.model, r.data, r.generate, self.ema, r.name, asdict(r.train),
            optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            step=self.step, best_val=self.best_val, best_step=self.best_step,
            last_val=self.last_val, untrained_val=self.untrained_val, rng=rng,
            speakers=list(self.data.speakers), trained_seconds=self.seconds_trained(),
            adversary=self.adversary.state_dict() if self.adversary is not None else None,
            clip=self.clip.state_dict())
        path = ckpt_io.step_path(self.ckpt_dir, self.step)
        save_checkpoint(path, state)
        if self.best_step == self.step:  # these weights are the best validated so far
            save_checkpoint(self.run_dir / "best.pt", state)
        ckpt_io.prune(self.ckpt_dir, self.tc.keep_last)
        return path

    def sample(self) -> Path | None:
        """Generate from the EMA model (conditioned on the first validation or training clip)
        and write a wav and its spectrogram under samples/."""
        if not self.dist.is_main:
            return None
        model = (self.ema or self.model).eval()
        rate = self.data.sample_rate
        n = int(self.tc.sample_seconds * rate)
        clip = (self.data.validation or self.data.train)[0]
        wave = self.family.hook("sample")(self, model, clip, n)
        out = self.run_dir / "samples"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"step-{self.step:08d}.wav"
        save_audio(path, wave, rate)
        plot_spectrogram(wave.cpu(), rate, path.with_suffix(".png"),
                         f"{self.recipe.name}, step {self.step}")
        self.metrics.sample(self.step, wave, rate, path.with_suffix(".png"))
        return path

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop_after: int | None = None) -> TrainResult:
        """Train to ``train.steps``; ``stop_after`` ends this process after that many steps,
        and ``train.minutes`` once the run has trained that long, as an interruption would.
        Subnormal floats are flushed to zero while it runs (:class:`FlushDenormals`)."""
        with FlushDenormals():
            return self._run(stop_after)

    def _run(self, stop_after: int | None) -> TrainResult:
        t, start, t0 = self.tc, self.step, time.perf_counter()
        self.started = t0
        if self.untrained_val is None:
            self.untrained_val = self.validate(self.model)
            if self.untrained_val is not None:
                o = self.objective
                self.echo(f"untrained validation {o.name}: {self.untrained_val:.3f}{o.unit}")
                self.metrics.log(0, **{f"val_{o.key}": self.untrained_val})
        bad_in_a_row, interrupted = 0, False
        crop_samples = self.data.config.crop * t.batch_size
        window_t, window_steps, window_loss = time.perf_counter(), 0, []
        last_ckpt = None
        with _Stop() as stop, _progress(t.steps, start, self.dist.is_main,
                                        self.objective.unit or f" ({self.objective.name})") as bar:
            while self.step < t.steps:
                try:
                    bits = self.train_step()
                except Diverged:
                    last_ckpt = self.checkpoint() or last_ckpt  # the state before this step
                    raise
                if bits is None:
                    bad_in_a_row += 1
                    warnings.warn(f"step {self.step}: non-finite loss, step skipped "
                                  f"({bad_in_a_row} in a row)", stacklevel=1)
                    if bad_in_a_row >= t.max_nonfinite:
                        raise RuntimeError(f"{bad_in_a_row} non-finite losses in a row at step "
                                           f"{self.step}: lower train.lr or check the data")
                    self.step += 1
                    continue
                bad_in_a_row = 0
                self.step += 1
                window_steps += 1
                window_loss.append(bits)
                if self.step % t.log_every == 0 or self.step == t.steps:
                    dt = time.perf_counter() - window_t
                    sps = window_steps * crop_samples / max(dt, 1e-9)
                    mean = sum(window_loss) / len(window_loss)
                    self.metrics.log(self.step, **{f"train_{self.objective.key}": mean},
                                     lr=self.sched.get_last_lr()[0], samples_per_second=sps,
                                     **(self.adversary.last if self.adversary else {}))
                    bar.update(self.step, mean, sps)
                    window_t, window_steps, window_loss = time.perf_counter(), 0, []
                if self.step % t.validate_every == 0 or self.step == t.steps:
                    self.last_val = self.validate()
                    if self.last_val is not None:
                        self.metrics.log(self.step, **{f"val_{self.objective.key}": self.last_val})
                        if self.best_val is None or self.last_val < self.best_val:
                            self.best_val, self.best_step = self.last_val, self.step
                        bar.note(f"step {self.step}: validation {self.objective.name} "
                                 f"{self.last_val:.3f}{self.objective.unit}")
                    if self.adversary is not None:
                        try:
                            self.adversary.check(self.step)
                        except Diverged:
                            last_ckpt = self.checkpoint() or last_ckpt
                            raise
                if t.sample_every and self.step % t.sample_every == 0:
                    self.sample()
                out_of_time = bool(t.minutes) and self.seconds_trained() >= 60 * t.minutes
                stop_now = self.dist.any(stop.requested or out_of_time) or (
                    stop_after is not None and self.step - start >= stop_after)
                new_best = self.best_step == self.step
                if self.step % t.checkpoint_every == 0 or self.step == t.steps or stop_now or new_best:
                    last_ckpt = self.checkpoint() or last_ckpt
                if stop_now:
                    interrupted = self.step < t.steps
                    break
        if self.dist.is_main and not interrupted:
            self.sample()
            plot_losses(self.metrics.read(), self.run_dir / "loss.png", self.objective.key)
        self.metrics.close()
        result = TrainResult(self.run_dir, self.step, self.untrained_val, self.last_val,
                             self.best_val, last_ckpt, interrupted, time.perf_counter() - t0,
                             self.objective.key)
        self.dist.close()
        return result


class _progress:
    """A rich progress bar on a terminal; plain lines otherwise."""

    def __init__(self, total: int, start: int, enabled: bool, unit: str = " bits/sample") -> None:
        self.total, self.start, self.enabled, self.unit = total, start, enabled, unit
        self.tty = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def __enter__(self) -> "_progress":
        if self.tty:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.start, info="")
        return self

    def update(self, step: int, bits: float, sps: float) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.bar.update(self.task, completed=step,
                            info=f"loss {bits:.3f}{self.unit}  {sps:,.0f} samples/s")
            return
        done = step - self.start
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        left = (self.total - step) / rate if rate > 0 else 0.0
        print(f"step {step}/{self.total}  loss {bits:.3f}{self.unit}  {sps:,.0f} samples/s  "
              f"{left:.0f} s left", flush=True)

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.bar.console.print(text)
        else:
            print(text, flush=True)

    def __exit__(self, *exc) -> None:
        if self.tty:
            self.bar.__exit__(*exc)


def train(recipe: Recipe, resume: bool = False, force: bool = False,
          stop_after: int | None = None, echo: Callable[[str], None] = print) -> TrainResult:
    """Train ``recipe``: the library function behind ``wavedil train``."""
    trainer = Trainer(recipe, resume=resume, force=force, echo=echo)
    result = trainer.run(stop_after=stop_after)
    if trainer.dist.is_main:
        if result.interrupted:
            minutes = recipe.train.minutes
            why = (f"stopped at train.minutes={minutes:g} (trained "
                   f"{trainer.seconds_trained() / 60:.1f} min in all)"
                   if minutes and trainer.seconds_trained() >= 60 * minutes else "interrupted")
            echo(f"{why} at step {result.step}; checkpoint {result.checkpoint} "
                 "(continue with --resume" + (" and a larger train.minutes" if why != "interrupted"
                                               else "") + ")")
        else:
            u, f = result.untrained_val, result.final_val
            o = trainer.objective
            if u is not None and f is not None:
                echo(f"validation {o.name}: untrained {u:.3f} -> final {f:.3f}{o.unit} "
                     f"({f / u:.2f} of untrained) after {result.step} steps, "
                     f"{result.seconds:.0f} s")
            echo(f"run folder: {result.run_dir}")
    return result


def frames_sample(trainer: Trainer, model: torch.nn.Module, clip: int, n: int) -> torch.Tensor:
    """Up to ``n`` samples generated by a WaveNet or a vocoder, conditioned on ``clip``'s
    frames (the listening sample of a family that generates: ``Family.sample``)."""
    g = trainer.recipe.generate
    data = trainer.data
    local = speaker = None
    if model.config.local_channels:
        a, b = data.bounds[clip].tolist()
        frames = data.mel[:, a // data.hop_length:b // data.hop_length]
        n = min(n, frames.shape[-1] * data.hop_length)
        local = frames[None].to(trainer.device)
    if model.config.speakers:
        speaker = int(data.speaker[clip])
    return generate(model, n, 1, local=local, speaker=speaker, temperature=g.temperature,
                    voiced_temperature=g.voiced_temperature,
                    generator=torch.Generator(device=trainer.device).manual_seed(g.seed),
                    engine=g.engine if trainer.device.type == "cpu" else "torch")[0]


def effect_sample(trainer: Trainer, model: torch.nn.Module, clip: int, n: int) -> torch.Tensor:
    """Up to ``n`` samples of ``clip``'s input segment through an effect (its listening
    sample: ``Family.sample``)."""
    data = trainer.data
    a, b = data.bounds[clip].tolist()
    dry = data.inputs[a:min(b, a + n)][None].to(trainer.device)
    controls = data.controls[clip][None].to(trainer.device)
    with torch.no_grad():
        return model(dry, controls if model.config.controls else None)[0].clamp(-1, 1)
