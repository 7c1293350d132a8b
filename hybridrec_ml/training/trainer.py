"""The training loop: BPR (or BCE) with sampled negatives, early stopping on val NDCG@10, resumable.

A batch is either random training rows, each with its own history window (`sequence="window"`),
or whole user-sequence chunks in random order (`sequence="chunks"`, the default): the GRU then
runs once per chunk and every row of the chunk takes its state from that pass (tensors.sequences).
The run stops after `patience` epochs without improvement or at the `epochs` cap and always
returns the best epoch's weights; the result says which of the two ended it.

Everything random comes from `variant.train.seed`: torch's global RNGs (the initialisation, dropout)
and one torch.Generator for shuffling and negatives, so a run is bit-identical on the CPU whatever
the process drew before. After every epoch the model, optimizer, scaler, RNG states, history and
best weights go to one checkpoint file (atomic write);
a killed run called again with the same `checkpoint_dir` continues from the last completed epoch
and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hybridrec_ml.config import ALL_COMPONENTS, ALPHA_COLUMNS, VariantConfig
from hybridrec_ml.data.synthetic.truth import PlantedTruth
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.tensors.sequences import SequenceLayout, sequence_batch
from hybridrec_ml.training.checkpoint import ResumePolicy, resumable_state, save_checkpoint
from hybridrec_ml.training.sampling import NegativeSampler

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    loss: float  # mean ranking loss (BPR/BCE) over the epoch's training rows
    val_ndcg_at_10: float
    alpha_mean: tuple[float, float, float] | None  # mean fusion weights over training rows (static, dynamic, content)
    max_alpha_mean: float | None  # the largest of alpha_mean: near 1 means the gate collapsed
    seconds: float  # wall time of the epoch, validation included
    rows: int  # training rows the epoch saw (all of them unless `steps_per_epoch` caps the epoch)
    samples_per_s: float  # training rows per second of the training loop alone
    regularizers: dict[str, float]  # mean weighted auxiliary terms added to the loss (v2: entropy, balance)
    # the model's own per-epoch means (hybrid: score scale per component, gate entropy, gate-logit gradient norm)
    diagnostics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    model: Recommender  # best-epoch weights, eval mode, on the training device
    history: list[EpochStats]
    best_epoch: int  # 0 for a model with nothing to train
    best_val_ndcg_at_10: float
    train_seconds: float  # summed over all epochs, including those of a run this one resumed
    device: str
    resumed_from_epoch: int  # 0 for a fresh run
    profile: str  # the TrainConfig profile the budget came from ("demo", "research")
    max_epochs: int  # the epoch cap of the run
    stopped_early: bool  # True: patience ran out before the cap; False: the cap ended it (or nothing to train)

    def summary_metadata(self) -> dict[str, float | int | str]:
        """Numbers for Dagster metadata / MLflow: best validation, how the run ended, speed, and the gate at the best epoch."""
        summary: dict[str, float | int | str] = {
            "best_val_ndcg_at_10": self.best_val_ndcg_at_10,
            "best_epoch": self.best_epoch,
            "epochs": len(self.history),
            "max_epochs": self.max_epochs,
            "stopped_early": int(self.stopped_early),
            "profile": self.profile,
            "train_seconds": self.train_seconds,
        }
        if self.history:
            summary["samples_per_s"] = sum(s.samples_per_s for s in self.history) / len(self.history)
        if self.best_epoch:
            best = self.history[self.best_epoch - 1]
            if best.alpha_mean is not None:
                summary |= dict(zip(ALPHA_COLUMNS, best.alpha_mean))
                summary["max_alpha_mean"] = max(best.alpha_mean)
            summary |= {f"{name}_term": value for name, value in best.regularizers.items()}
            summary |= best.diagnostics
        return summary


def train(
    variant: VariantConfig,
    bundle: TrainingBundle,
    *,
    validate: Callable[[Recommender], float],
    checkpoint_dir: Path | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    truth: PlantedTruth | None = None,
    resume: ResumePolicy = "auto",
    initialise: Callable[[Recommender], Recommender] | None = None,
) -> TrainResult:
    """Train `variant` on `bundle.train`; `validate(model)` returns val NDCG@10 (called in eval mode, no grad).

    `truth` is passed to the oracle variant only (`build_model`); `resume` decides what a checkpoint
    in `checkpoint_dir` is worth (see `checkpoint.resumable_state`); `initialise` re-initialises the
    built model inside the seeded block (a diagnostic, e.g. another library's initialisation; the
    checkpoint fingerprint does not know of it).
    """
    device = resolve_device(variant.train.device)
    # The initialisation and dropout draw from torch's global RNGs: seed them for the run, and give
    # the caller's back afterwards (a checkpoint stores them, so a resumed run draws the same).
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(variant.train.seed)
        return _train_seeded(variant, bundle, device, validate, checkpoint_dir, on_epoch, truth, resume, initialise)


def _train_seeded(
    variant: VariantConfig,
    bundle: TrainingBundle,
    device: torch.device,
    validate: Callable[[Recommender], float],
    checkpoint_dir: Path | None,
    on_epoch: Callable[[EpochStats], None] | None,
    truth: PlantedTruth | None,
    resume: ResumePolicy,
    initialise: Callable[[Recommender], Recommender] | None,
) -> TrainResult:
    cfg = variant.train
    model = build_model(variant, bundle, truth if variant.model == "oracle" else None)
    model = (initialise(model) if initialise is not None else model).to(device)
    if not model.trainable:
        return _untrained_result(model, validate, device, cfg.profile)

    run = _TrainingRun.start(model, variant, bundle, device)
    checkpoint_path = checkpoint_dir / CHECKPOINT_NAME if checkpoint_dir is not None else None
    state = resumable_state(checkpoint_path, run.fingerprint, resume)
    if state is not None:
        run.resume(state)
        log.info("%s resumed from epoch %d (%s)", variant.name, len(run.history), checkpoint_path)
    resumed_from_epoch = len(run.history)

    model.train()
    while len(run.history) < cfg.epochs and len(run.history) - _best_epoch(run.history) < cfg.patience:
        stats = run.epoch(bundle, variant, validate)
        if checkpoint_path is not None:
            run.save(checkpoint_path)
        log.info("%s epoch %d: loss %.4f, val NDCG@10 %.4f, %.0f rows/s", variant.name, stats.epoch, stats.loss,
                 stats.val_ndcg_at_10, stats.samples_per_s)
        if on_epoch is not None:
            on_epoch(stats)

    model.load_state_dict(run.best_weights)
    model.eval()
    best = _best_epoch(run.history)
    return TrainResult(
        model=model,
        history=run.history,
        best_epoch=best,
        best_val_ndcg_at_10=run.history[best - 1].val_ndcg_at_10 if best else float("nan"),
        train_seconds=sum(s.seconds for s in run.history),
        device=str(device),
        resumed_from_epoch=resumed_from_epoch,
        profile=cfg.profile,
        max_epochs=cfg.epochs,
        stopped_early=len(run.history) < cfg.epochs,
    )


def _untrained_result(
    model: Recommender, validate: Callable[[Recommender], float], device: torch.device, profile: str
) -> TrainResult:
    """A model with nothing to optimise (popularity): validated once, as it is."""
    started = time.perf_counter()
    val_ndcg = _validate(model, validate)
    model.eval()
    return TrainResult(model, [], 0, val_ndcg, time.perf_counter() - started, str(device), 0, profile, 0, False)


def _best_epoch(history: list[EpochStats]) -> int:
    return max(history, key=lambda s: s.val_ndcg_at_10).epoch if history else 0  # ties: the earliest


@dataclass
class _TrainingRun:
    """Everything a run carries from epoch to epoch, which is exactly what its checkpoint holds."""

    model: Recommender
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    generator: torch.Generator
    sampler: NegativeSampler
    device: torch.device
    layout: SequenceLayout | None  # the sequence path's chunks; None on the per-row window path
    fingerprint: str
    history: list[EpochStats]
    best_weights: dict[str, torch.Tensor]

    @classmethod
    def start(
        cls, model: Recommender, variant: VariantConfig, bundle: TrainingBundle, device: torch.device
    ) -> _TrainingRun:
        cfg = variant.train
        # fused: one kernel over all parameters instead of ~10 per tensor (demo hybrid on CPU: 32 -> 6 ms/step)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        amp_dtype = _autocast_dtype(device)
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        generator = torch.Generator().manual_seed(cfg.seed)
        layout = (
            SequenceLayout.build(bundle, variant.dims.max_history, cfg.sequence_chunk)
            if variant.uses_sequence_chunks else None
        )
        return cls(
            model, optimizer, scaler, amp_dtype, generator, NegativeSampler(bundle), device, layout,
            _fingerprint(variant, bundle), [], _cpu_copy(model.state_dict()),
        )

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from the last completed epoch of a checkpoint with this run's fingerprint."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        _set_rng_states(state["rng"], self.generator, self.device)
        self.history = [EpochStats(**stats) for stats in state["history"]]
        self.best_weights = state["best_weights"]

    def epoch(self, bundle: TrainingBundle, variant: VariantConfig, validate: Callable[[Recommender], float]) -> EpochStats:
        """Train one epoch, validate, record it, and keep the weights when it is the best so far."""
        epoch = len(self.history) + 1
        started = time.perf_counter()
        self.model.start_epoch(epoch)
        loss, alpha_mean, regularizers, rows_seen, loop_seconds = _train_epoch(
            self.model, self.optimizer, self.scaler, self.amp_dtype, bundle, self.sampler, self.generator, variant,
            self.device, self.layout,
        )
        stats = EpochStats(
            epoch=epoch,
            loss=loss,
            val_ndcg_at_10=_validate(self.model, validate),
            alpha_mean=alpha_mean,
            max_alpha_mean=max(alpha_mean) if alpha_mean is not None else None,
            seconds=time.perf_counter() - started,
            rows=rows_seen,
            samples_per_s=rows_seen / loop_seconds,
            regularizers=regularizers,
            diagnostics=self.model.epoch_diagnostics(),
        )
        self.history.append(stats)
        if _best_epoch(self.history) == epoch:
            self.best_weights = _cpu_copy(self.model.state_dict())
        return stats

    def save(self, path: Path) -> None:
        save_checkpoint(
            {
                "fingerprint": self.fingerprint,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": _rng_states(self.generator, self.device),
                "history": [dataclasses.asdict(s) for s in self.history],
                "best_weights": self.best_weights,
            },
            path,
        )


def _train_epoch(
    model: Recommender,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    amp_dtype: torch.dtype | None,
    bundle: TrainingBundle,
    sampler: NegativeSampler,
    generator: torch.Generator,
    variant: VariantConfig,
    device: torch.device,
    layout: SequenceLayout | None,
) -> tuple[float, tuple[float, float, float] | None, dict[str, float], int, float]:
    """One pass over the training rows in a fresh random order: (loss, alpha mean, regularisers, rows, seconds).

    With `steps_per_epoch` the pass stops after that many batches (a time-boxed epoch); the means
    are then over the rows it saw.
    """
    cfg, train = variant.train, bundle.train
    started = time.perf_counter()
    # running sums stay on the device: no host sync inside the loop
    loss_sum = torch.zeros((), device=device)
    alpha_sum = torch.zeros(len(ALL_COMPONENTS), device=device)
    has_alpha = False
    regularizer_sums: dict[str, torch.Tensor] = {}
    batches = _batches(len(train), cfg.batch_size, layout, generator)[: cfg.steps_per_epoch]
    for rows in batches:
        if layout is None:
            batch = make_batch(train, rows, variant.dims.max_history)
        else:
            batch = sequence_batch(layout, "train", train, rows)
        if cfg.user_dropout:  # trains the unknown-user row that cold users are scored with
            dropped = torch.rand(batch.user.shape, generator=generator) < cfg.user_dropout
            batch = dataclasses.replace(batch, user=torch.where(dropped, bundle.n_users, batch.user))
        batch = batch.to(device)
        negatives = sampler.sample(train.user[rows], cfg.n_negatives, generator)
        candidates = torch.cat([train.item[rows].unsqueeze(1), negatives], dim=1).to(device)  # positive first
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = model.calculate_loss(batch, candidates, cfg.loss)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss.total).backward()
        scaler.step(optimizer)
        scaler.update()

        loss_sum += loss.ranking.detach() * rows.numel()
        if loss.alpha is not None:
            has_alpha = True
            alpha_sum += loss.alpha.detach().sum(dim=0)
        for name, value in loss.regularizers.items():
            regularizer_sums[name] = regularizer_sums.get(name, 0) + value.detach() * rows.numel()
    n = sum(rows.numel() for rows in batches)
    alpha_mean = tuple(float(a) for a in (alpha_sum / n).tolist()) if has_alpha else None
    regularizer_means = {name: float(total) / n for name, total in regularizer_sums.items()}
    loss_mean = float(loss_sum) / n
    return loss_mean, alpha_mean, regularizer_means, n, time.perf_counter() - started


def _batches(
    n_rows: int, batch_size: int, layout: SequenceLayout | None, generator: torch.Generator
) -> list[torch.Tensor]:
    """Training row ids per step: random rows, or (sequence path) whole chunks in random order, about batch_size rows a step."""
    if layout is None:
        return list(torch.randperm(n_rows, generator=generator).split(batch_size))
    rows_in_flat_order, counts = layout.train_chunks()
    first = torch.cumsum(counts, 0) - counts
    order = torch.randperm(counts.numel(), generator=generator)
    shuffled = rows_in_flat_order[
        torch.repeat_interleave(first[order], counts[order])
        + torch.arange(n_rows)
        - torch.repeat_interleave(torch.cumsum(counts[order], 0) - counts[order], counts[order])
    ]
    step = (torch.cumsum(counts[order], 0) - 1) // batch_size  # a chunk joins the step its last row falls in
    rows_per_step = torch.bincount(step, weights=counts[order].double()).long()
    return list(shuffled.split(rows_per_step[rows_per_step > 0].tolist()))


def _validate(model: Recommender, validate: Callable[[Recommender], float]) -> float:
    model.eval()
    with torch.no_grad():
        value = float(validate(model))
    model.train()
    return value


def resolve_device(setting: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch.device."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision on CUDA only: bf16 where supported (no loss scaling needed), else fp16."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _fingerprint(variant: VariantConfig, bundle: TrainingBundle) -> str:
    """What a checkpoint must match to be resumed: the full variant and the dataset's shape."""
    return f"{variant!r} users={bundle.n_users} items={bundle.n_items} train={len(bundle.train)}"


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


def _rng_states(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    """The sampling generator plus torch's global RNGs (a caller's `validate` may draw from them)."""
    states: dict[str, Any] = {"sampling": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(states["sampling"])
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])
