"""Frozen configurations: the one registry of named variants, plus training and data settings.

A Dagster partition key is a key of `VARIANTS`; nothing else defines a variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Component = Literal["static", "dynamic", "content"]
ALL_COMPONENTS: tuple[Component, ...] = ("static", "dynamic", "content")
ALPHA_COLUMNS: tuple[str, ...] = tuple(f"alpha_{component}" for component in ALL_COMPONENTS)  # fusion weights
# α_k × component k's score spread, normalised over the components (evaluation.contributions)
EFFECTIVE_SHARE_COLUMNS: tuple[str, ...] = tuple(f"effective_share_{component}" for component in ALL_COMPONENTS)
# Per-epoch gate dynamics a hybrid records (issue 14): each component's score scale (std of w·h_k),
# the gate entropy (nats) and the norm of the loss gradient on the gate logits.
SCORE_SCALE_COLUMNS: tuple[str, ...] = tuple(f"score_scale_{component}" for component in ALL_COMPONENTS)
GATE_DIAGNOSTIC_COLUMNS: tuple[str, ...] = (*SCORE_SCALE_COLUMNS, "gate_entropy", "gate_logit_grad_norm")
# A gate whose largest mean weight exceeds this has in effect picked one component.
DEFAULT_COLLAPSE_THRESHOLD = 0.9
# Users by training-history length: 0 (cold: no training interaction), 1-3, 4-10, 11-30, >30.
DEFAULT_SEGMENT_BOUNDS: tuple[int, ...] = (0, 3, 10, 30)


@dataclass(frozen=True)
class ModelDims:
    """Layer sizes from the study (README architecture table)."""

    embedding_dim: int = 64  # NCF user/item embeddings, and every component's output
    ncf_hidden: tuple[int, ...] = (64,)  # MLP[128 -> 64]
    gru_hidden: int = 128
    gru_layers: int = 2
    max_history: int = 50
    content_hidden: tuple[int, ...] = (512, 256)  # MLP[vocab -> 512 -> 256 -> 64]
    gate_hidden: int = 64
    context_dim: int = 5
    attention_blocks: int = 2  # SASRec: self-attention blocks
    attention_heads: int = 1  # SASRec: heads per block
    dropout: float = 0.0  # NeuMF's MLP, SASRec's embeddings, attention and feed-forward layers


Profile = Literal["demo", "research"]
# The epoch budget and early-stopping patience of each profile: `demo` keeps the main command short,
# `research` trains every model (baselines included) until validation stops improving.
PROFILES: dict[str, dict[str, int]] = {
    "demo": {"epochs": 6, "patience": 2},
    "research": {"epochs": 100, "patience": 5},
}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; defaults suit the `demo` dataset on 2 CPU cores."""

    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 1024  # training rows per step (on the sequence path: whole chunks up to about this many rows)
    profile: Profile = "demo"  # names the epochs / patience pair below (see PROFILES and `with_profile`)
    epochs: int = PROFILES["demo"]["epochs"]
    patience: int = PROFILES["demo"]["patience"]  # epochs without val NDCG@10 improvement before stopping
    n_negatives: int = 1  # per positive, for BPR
    # "cross_entropy": softmax over the whole catalogue (n_negatives unused, set 0), as RecBole's sequential models
    loss: Literal["bpr", "bce", "softmax", "cross_entropy"] = "bpr"
    seed: int = 42
    device: str = "auto"  # auto -> cuda if available else cpu
    val_max_rows: int = 5000  # validation interactions ranked per epoch (full-ranking protocol, user-level mean)
    # "chunks": one GRU pass per user-sequence chunk of `sequence_chunk` rows (tensors.sequences);
    # "window": the GRU re-reads each row's own window of up to max_history items
    sequence: Literal["chunks", "window"] = "chunks"
    sequence_chunk: int = 25
    # share of training rows whose user id is replaced by the unknown user, which trains the row that
    # scores users without a training interaction (models/users.py)
    user_dropout: float = 0.05
    steps_per_epoch: int | None = None  # cap on optimizer steps per epoch (None: every training row)


ModelKind = Literal["hybrid", "hybrid_plus", "pop", "bpr_mf", "neumf", "gru4rec", "sasrec", "ease", "oracle"]
# The models a reader compares the hybrid with (the report's "best baseline" is one of these).
BASELINE_MODELS: frozenset[str] = frozenset({"pop", "bpr_mf", "neumf", "gru4rec", "sasrec", "ease"})
SEQUENTIAL_MODELS: frozenset[str] = frozenset({"gru4rec", "sasrec"})  # a state per row from the user's sequence


@dataclass(frozen=True)
class VariantConfig:
    name: str
    model: ModelKind
    description: str
    components: tuple[Component, ...] = ALL_COMPONENTS
    gate: Literal["learned", "uniform", "none"] = "learned"
    entropy_lambda: float = 0.0  # weight of -H(alpha) in the loss
    balance_lambda: float = 0.0  # weight of ||mean(alpha) - 1/3||^2 in the loss
    gate_init_std: float | None = None  # std of the gate output layer init; None = PyTorch default
    ease_lambda: float = 250.0  # EASE^R's L2 weight on the item-item matrix
    # Collapse factors (issue 14): "study" = the study's item-only content (h = c_i); "personalised" =
    # HybridRec's p_u ⊙ c_i. "day": the gate sees every timestamp floored to its day (Amazon 2018).
    architecture: Literal["study", "personalised"] = "study"
    context_granularity: Literal["second", "day"] = "second"
    # Fixes for collapse (off by default); the mechanisms live in models/gate_fixes.py and models/gate_input.py.
    gate_top_k: int | None = None  # noisy top-k gating: keep the k largest noisy logits per row
    gate_history_features: bool = False  # gate input also gets history length, diversity and recency
    z_loss_lambda: float = 0.0  # weight of mean(logsumexp(gate logits)^2)
    balance_bias_rate: float = 0.0  # loss-free balancing: per-component logit bias step, outside the gradient
    normalise_scores: bool = False  # standardise each component's score w·h_k before fusion
    curriculum_epochs: int = 0  # epochs in which each component trains alone before the gate joins
    dims: ModelDims = field(default_factory=ModelDims)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def uses_sequence_chunks(self) -> bool:
        """Whether rows reach the model as user-sequence chunks (a GRU to run once per chunk) rather than
        per-row windows; models without a sequence encoder (and the oracle, which reads the window's
        last item) always get windows."""
        has_gru = self.model in ("hybrid", "hybrid_plus") and "dynamic" in self.components
        return (has_gru or self.model in SEQUENTIAL_MODELS) and self.train.sequence == "chunks"

    @property
    def is_baseline(self) -> bool:
        return self.model in BASELINE_MODELS

    @property
    def has_learned_gate(self) -> bool:
        return self.model in ("hybrid", "hybrid_plus") and self.gate == "learned" and len(self.components) > 1

    def with_train(self, **overrides: object) -> VariantConfig:
        """The same variant with some training settings overridden (e.g. from a Dagster Config)."""
        return replace(self, train=replace(self.train, **overrides))

    def with_profile(self, profile: str) -> VariantConfig:
        """The same variant with the epoch budget and patience of a named profile (PROFILES)."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        return self.with_train(profile=profile, **PROFILES[profile])


VARIANTS: dict[str, VariantConfig] = {
    v.name: v
    for v in (
        VariantConfig("v1", "hybrid", "Full hybrid, plain BPR (the study's v1; gate expected to collapse)"),
        VariantConfig(
            "v2",
            "hybrid",
            "Full hybrid + entropy (0.05) and load-balancing (0.01) regularisers, gate init std 0.01",
            entropy_lambda=0.05,
            balance_lambda=0.01,
            gate_init_std=0.01,
        ),
        VariantConfig("no_dynamic", "hybrid", "Ablation: GRU component removed", components=("static", "content")),
        VariantConfig("no_content", "hybrid", "Ablation: TF-IDF component removed", components=("static", "dynamic")),
        VariantConfig("no_attention", "hybrid", "Ablation: uniform 1/3 fusion, no learned gate", gate="uniform"),
        VariantConfig("static_only", "hybrid", "Ablation: NCF component only", components=("static",), gate="none"),
        VariantConfig("pop", "pop", "Baseline: training-set popularity", gate="none", components=()),
        VariantConfig("bpr_mf", "bpr_mf", "Baseline: matrix factorisation trained with BPR", gate="none", components=()),
        VariantConfig(
            "hybrid_plus",
            "hybrid_plus",
            "Our hybrid: dot-product components, context-gated mixture of softmaxes, sampled softmax over 256 negatives",
            dims=ModelDims(gru_hidden=64, gru_layers=1),
            # 4x the optimizer steps of batch 1024 per epoch: val NDCG@10 0.26 vs 0.16 after epoch 1 (README)
            train=TrainConfig(loss="softmax", n_negatives=256, batch_size=256, lr=3e-3),
        ),
        VariantConfig(
            "oracle", "oracle", "Ceiling: the synthetic generator's true probabilities (synthetic data only; never trained)",
            gate="none", components=(),
        ),
    )
}

# The field's standard baselines (issue 15), each with its paper's settings; trained and evaluated
# like every variant (same trainer, early stopping, protocols). Defaults not named here: dim 64,
# Adam lr 2e-3 (TrainConfig), the profile's epochs and patience.
VARIANTS.update(
    {
        v.name: v
        for v in (
            VariantConfig(
                "neumf", "neumf",
                "Baseline: NeuMF (He et al. 2017): GMF (64 factors) + MLP tower [128 -> 64], pointwise BCE "
                "with 4 negatives per positive, lr 1e-3, dropout 0.1 (RecBole's)",
                gate="none", components=(), dims=ModelDims(dropout=0.1, ncf_hidden=(128, 64)),
                train=TrainConfig(loss="bce", n_negatives=4, lr=1e-3),
            ),
            VariantConfig(
                "gru4rec", "gru4rec",
                "Baseline: GRU4Rec (Hidasi et al. 2016/2018): one GRU layer of 100 units over the last 50 items, "
                "full cross-entropy, output scores against the input item embeddings, lr 1e-3",
                gate="none", components=(), dims=ModelDims(gru_hidden=100, gru_layers=1),
                train=TrainConfig(loss="cross_entropy", n_negatives=0, lr=1e-3),
            ),
            VariantConfig(
                "sasrec", "sasrec",
                "Baseline: SASRec (Kang & McAuley 2018): 2 causal self-attention blocks, 1 head, learned "
                "positions, last 50 items, dropout 0.2, shared item embeddings, full cross-entropy, lr 1e-3",
                gate="none", components=(), dims=ModelDims(dropout=0.2),
                train=TrainConfig(loss="cross_entropy", n_negatives=0, lr=1e-3),
            ),
            VariantConfig(
                "ease", "ease",
                "Baseline: EASE^R (Steck 2019): closed-form item-item weights, zero diagonal, lambda 250 "
                "(RecBole's default); fitted once, no epochs",
                gate="none", components=(), ease_lambda=250.0,
            ),
        )
    }
)


# ---- collapse experiments (issue 14): factor grid and fixes, run on demand, not by the main command ----
# v2's anti-collapse settings, read from its registry line (their one home)
_V2 = {name: getattr(VARIANTS["v2"], name) for name in ("entropy_lambda", "balance_lambda", "gate_init_std")}
_PERSONALISED = {"architecture": "personalised"}
_DAY = {"context_granularity": "day"}
COLLAPSE_FACTORS: tuple[str, ...] = (
    "v1", "v2", "personalised_v1", "personalised_v2", "day_v1", "day_v2", "personalised_day_v1", "personalised_day_v2",
)  # fmt: skip
COLLAPSE_FIXES: tuple[str, ...] = (
    "noisy_topk", "curriculum", "enriched_gate", "v2_no_dynamic", "v2_no_content", "z_loss", "loss_free_balance",
    "score_norm",
)  # fmt: skip
VARIANTS |= {
    v.name: v
    for v in (
        VariantConfig("personalised_v1", "hybrid", "Factor: v1 with HybridRec's per-user content p_u ⊙ c_i", **_PERSONALISED),
        VariantConfig("personalised_v2", "hybrid", "Factor: v2 with HybridRec's per-user content p_u ⊙ c_i", **_PERSONALISED, **_V2),
        VariantConfig("day_v1", "hybrid", "Factor: v1 whose gate sees timestamps floored to the day", **_DAY),
        VariantConfig("day_v2", "hybrid", "Factor: v2 whose gate sees timestamps floored to the day", **_DAY, **_V2),
        VariantConfig("personalised_day_v1", "hybrid", "Factor: personalised content, day-floored context, v1", **_PERSONALISED, **_DAY),
        VariantConfig("personalised_day_v2", "hybrid", "Factor: personalised content, day-floored context, v2", **_PERSONALISED, **_DAY, **_V2),
        # fixes from the study's future work and beyond, each on v1 (plain BPR) unless it says v2
        VariantConfig("noisy_topk", "hybrid", "Fix: noisy top-2 gating (Shazeer et al. 2017)", gate_top_k=2),
        VariantConfig("curriculum", "hybrid", "Fix: epoch 1 trains each component alone, then the gate joins and all fine-tune", curriculum_epochs=1),
        VariantConfig(
            "enriched_gate", "hybrid", "Fix: gate input adds history length, diversity and recency to the temporal context",
            # windows: length and diversity of the capped per-row window; the chunk path gives the same where a row
            # has fewer than max_history earlier items and sequence_chunk divides max_history, else the chunk's window
            gate_history_features=True, train=TrainConfig(sequence="window"),
        ),
        VariantConfig("v2_no_dynamic", "hybrid", "Fix: re-ablation on v2, GRU removed", components=("static", "content"), **_V2),
        VariantConfig("v2_no_content", "hybrid", "Fix: re-ablation on v2, TF-IDF removed", components=("static", "dynamic"), **_V2),
        VariantConfig("z_loss", "hybrid", "Fix: z-loss 0.01 · mean logsumexp(gate logits)² (ST-MoE, Zoph et al. 2022)", z_loss_lambda=0.01),
        VariantConfig("loss_free_balance", "hybrid", "Fix: per-component gate bias moved 0.01·sign(1/K − load) per step (Wang et al. 2024)", balance_bias_rate=0.01),
        VariantConfig("score_norm", "hybrid", "Fix: each component's score standardised (batch statistics, running ones in eval)", normalise_scores=True),
    )
}  # fmt: skip
# ---- end of the collapse experiments ----

# Which variants the main command (`./run.sh pipeline`), the weekly schedule and the automation run.
MAIN_VARIANTS: tuple[str, ...] = (
    "v1", "v2", "no_dynamic", "no_content", "no_attention", "static_only", "pop", "bpr_mf", "hybrid_plus", "oracle",
    "neumf", "gru4rec", "sasrec", "ease",
)  # fmt: skip
# Named selections for the pipeline's --variants.
VARIANT_GROUPS: dict[str, tuple[str, ...]] = {
    "main": MAIN_VARIANTS,
    "factors": COLLAPSE_FACTORS,
    "fixes": COLLAPSE_FIXES,
    "collapse": COLLAPSE_FACTORS + COLLAPSE_FIXES,
}


def select_variants(spec: str) -> tuple[str, ...]:
    """Comma-separated variant or group names -> variant names (in order, no repeats); empty -> the main set."""
    names: list[str] = []
    for token in [t.strip() for t in spec.split(",") if t.strip()] or ["main"]:
        expanded = VARIANT_GROUPS.get(token, (token,))
        unknown = [n for n in expanded if n not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant {unknown[0]!r}; known: {sorted(VARIANTS)} or groups {sorted(VARIANT_GROUPS)}")
        names += [n for n in expanded if n not in names]
    return tuple(names)


def gate_can_collapse(variant: str) -> bool:
    """Only a learned gate can collapse; fixed fusions (no_attention, single components) are by design.

    A name outside VARIANTS (hand-built results) counts as gated.
    """
    return VARIANTS[variant].has_learned_gate if variant in VARIANTS else True
