"""RecBole parity: RecBole 1.2.1's Pop, BPR, NeuMF, GRU4Rec, SASRec and EASE next to ours, on exactly our split.

    python bench/recbole_parity.py                              # synthetic demo, seeds 42,43,44
    python bench/recbole_parity.py --models neumf,gru4rec,sasrec,ease --epochs 30 --patience 3
    python bench/recbole_parity.py --source movielens --folder ~/data/ml-1m
    python bench/recbole_parity.py --warehouse data/hybridrec.duckdb   # whatever the pipeline ingested

1. Builds a RecBole 1.2.1 virtualenv under bench/.cache once (numpy<2, setuptools<81, pandas<2.2,
   torch==2.13.0); RecBole runs there, in subprocesses, with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
   (it reloads its own checkpoints with a plain torch.load).
2. Builds the data tables of the chosen source into a DuckDB file under the cache (or reads
   --warehouse) and exports them with `export_recbole(users=--users)`: RecBole reads our
   train/valid/test files (`benchmark_filename`) and the whole catalogue (`.item`), so it
   evaluates the users and items `evaluate_per_user` does (all test users, or the warm ones).
   The sequential models (GRU4Rec, SASRec) read a second export (`export_sequences`): each row
   with its stored history of <= 50 items as `item_id_list`, rows without history left out.
3. RecBole's Pop runs with `train_batch_size: 1` (it counts an item once per batch) and no
   negatives (they would be counted too); EASE is fitted once; the others train with early
   stopping on full-sort valid NDCG@10.
4. Ours train with the same settings (`PAIRS`: lr, batch, layer sizes, loss and negatives, early
   stopping with the same patience). The general models are scored with `evaluate_per_user`
   (train + valid masked), as RecBole's full sort scores them. RecBole evaluates a sequential
   model per test row instead (the row's history -> its item, nothing masked), so ours are
   scored the same way (`per_row_unmasked`), on the same rows, and validated so too. Pop is also
   scored with ties broken in the positives' favour: RecBole's top-k orders equal counts
   arbitrarily, so its figure must lie between our two.
5. Prints both side by side: NDCG@10, Recall@10, users (or rows) evaluated, epochs; per seed and as
   mean ± sd over seeds (the sd is the run-to-run noise the difference is compared with).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import torch
from torch import nn

# Measure the code of this checkout, whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.config import VARIANTS, ModelDims
from hybridrec_ml.data.sources.registry import SyntheticOptions, ingest_source, resolve_source_files
from hybridrec_ml.data.transforms.recbole_export import export_recbole
from hybridrec_ml.data_layer import build_data_layer
from hybridrec_ml.evaluation.metrics import mean_metrics
from hybridrec_ml.evaluation.protocols import PerUserResult, evaluate_full, evaluate_per_user
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch, SequenceChunks
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, TrainingBundle
from hybridrec_ml.tensors.bundle_loader import load_training_bundle, unique_items_by_user
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.models.baselines.gru4rec import GRU4Rec
from hybridrec_ml.models.baselines.sasrec import SASRec, causal_mask
from hybridrec_ml.training.trainer import train

BENCH = Path(__file__).resolve().parent
RECBOLE_INITIALIZER_RANGE = 0.02  # RecBole's `initializer_range` (SASRec's default)
RECBOLE_LAYER_NORM_EPS = 1e-12  # RecBole's `layer_norm_eps` (SASRec's default)
RECBOLE_REQUIREMENTS = ("recbole==1.2.1", "numpy<2", "setuptools<81", "pandas<2.2", "torch==2.13.0")
DATASET = "parity"
SEQUENCE_DATASET = "parity_seq"  # the same split with each row's history, for RecBole's sequential models
SHOWN = ("ndcg@10", "recall@10")


@dataclass(frozen=True)
class Pair:
    """One RecBole model and our variant, with the settings both sides share."""

    recbole: str
    ours: str
    recbole_settings: dict  # RecBole's model settings matching our variant's layers
    training: dict  # TrainConfig fields of ours matching RecBole's loss and negatives
    sequential: bool = False
    trained: bool = True  # False: fitted or counted once (Pop, EASE)


_CE = {"loss": "cross_entropy", "n_negatives": 0}
PAIRS: dict[str, Pair] = {
    "pop": Pair("Pop", "pop", {}, {}, trained=False),
    "bpr": Pair("BPR", "bpr_mf", {"embedding_size": 64}, {"loss": "bpr", "n_negatives": 1}),
    "neumf": Pair("NeuMF", "neumf", {"mf_embedding_size": 64, "mlp_embedding_size": 64, "mlp_hidden_size": [128, 64],
                                     "dropout_prob": 0.1}, {"loss": "bce", "n_negatives": 4}),
    "gru4rec": Pair("GRU4Rec", "gru4rec", {"embedding_size": 64, "hidden_size": 100, "num_layers": 1, "dropout_prob": 0.0,
                                           "loss_type": "CE"}, _CE, sequential=True),
    "sasrec": Pair("SASRec", "sasrec", {"n_layers": 2, "n_heads": 1, "hidden_size": 64, "inner_size": 64,
                                        "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2, "hidden_act": "relu",
                                        "loss_type": "CE"}, _CE, sequential=True),
    "ease": Pair("EASE", "ease", {"reg_weight": 250.0}, {}, trained=False),
}  # fmt: skip


# ------------------------------------------------------------------------------------ RecBole side


def recbole_python(cache_dir: Path) -> Path:
    """The RecBole virtualenv's interpreter, built on first use (a marker records what was installed)."""
    venv = cache_dir / "recbole-venv"
    python, marker = venv / "bin" / "python", venv / ".installed"
    wanted = "\n".join(RECBOLE_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return python
    print(f"building the RecBole virtualenv in {venv} (once, a few minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *RECBOLE_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def recbole_config(args: argparse.Namespace, data_path: Path, seed: int, pair: Pair, work_dir: Path) -> dict:
    """RecBole's settings: our split and catalogue, full-sort evaluation, the shared training settings."""
    config = {
        "data_path": str(data_path),
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "TO", "mode": "full"},
        "metrics": ["Recall", "NDCG"],
        "topk": [10, 20],
        "valid_metric": "NDCG@10",
        "eval_batch_size": 4096,
        "use_gpu": False,
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": str(work_dir / f"saved-{pair.recbole}-{seed}"),  # its file names are only second-precise
        "state": "WARNING",
        **pair.recbole_settings,
    }
    if pair.recbole == "Pop":
        # Pop's calculate_loss does item_cnt[items] += 1: a repeated item in a batch counts once,
        # and negatives in the batch would count too.
        return config | {"epochs": 1, "train_batch_size": 1, "train_neg_sample_args": None}
    if not pair.trained:
        return config | {"epochs": 1, "train_neg_sample_args": None}
    training = {"epochs": args.epochs, "stopping_step": args.patience, "train_batch_size": args.batch_size,
                "learning_rate": args.lr, "weight_decay": 0.0}  # fmt: skip
    if pair.sequential:
        return config | training | {
            "load_col": {"inter": ["user_id", "item_id", "timestamp", "item_id_list"], "item": ["item_id"]},
            **ONE_ITEM_SPACE,
            "MAX_ITEM_LIST_LENGTH": 50,
            "train_neg_sample_args": None,  # CE: every item is a negative
        }  # fmt: skip
    return config | training | {
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": pair.training["n_negatives"], "alpha": 1.0,
                                  "dynamic": False, "candidate_num": 0},
    }  # fmt: skip


def run_recbole(python: Path, model: str, config: dict, work_dir: Path) -> dict:
    """One RecBole run in its own interpreter; the runner prints one JSON line."""
    spec = work_dir / f"{model}-{config['seed']}.json"
    dataset = SEQUENCE_DATASET if "item_id_list" in config["load_col"]["inter"] else DATASET
    spec.write_text(json.dumps({"model": model, "dataset": dataset, "config": config}))
    # one thread, as ours (run_pair): on a shared machine a second thread waiting for a busy core made
    # RecBole's GRU4Rec epochs about 3x slower (measured on `tiny`), and the two sides compare at equal threads
    env = os.environ | {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), str(BENCH / "recbole_runner.py"), str(spec)],
        cwd=work_dir, env=env, capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"RecBole {model} (seed {config['seed']}) failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


# ------------------------------------------------------------------------------------ our side


# One id space for the histories and the items: without it RecBole remaps item_id_list on its own,
# so history item k and target item k are different items (recbole_runner checks this).
ONE_ITEM_SPACE = {"alias_of_item_id": ["item_id_list"]}


def build_warehouse(args: argparse.Namespace, cache_dir: Path) -> Path:
    """The data tables of the chosen source in a DuckDB file under the cache (built once per source)."""
    if args.warehouse:
        return Path(args.warehouse)
    name = args.scale if args.source == "synthetic" else Path(args.folder or args.reviews).name
    database = cache_dir / f"parity-{args.source}-{name}.duckdb"
    if database.exists():
        return database
    paths = {role: value for role, value in (("folder", args.folder), ("reviews", args.reviews), ("meta", args.meta)) if value}
    files = resolve_source_files(
        args.source, cache_dir / f"parity-{args.source}-files", paths=paths, synthetic=SyntheticOptions(scale=args.scale)
    )
    partial = database.with_name(f".{database.name}.tmp")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as con:
        ingest_source(con, args.source, files)
        build_data_layer(con)
    partial.rename(database)
    return database


def export_split(bundle: TrainingBundle, folder: Path, name: str, sequences: bool) -> None:
    """The bundle's train/val/test rows as RecBole benchmark files (event_order as the timestamp).

    With `sequences` (RecBole's sequential models read benchmark files pre-augmented) each row also
    carries `item_id_list`, its stored history of <= 50 items, and rows without history are left out
    (`has_history` says which). Ids are `u<user_idx>` / `i<item_idx>`; `.item` lists the catalogue.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for split, suffix in (("train", "train"), ("val", "valid"), ("test", "test")):
        rows = getattr(bundle, split)
        ptr, index = rows.history.ptr.tolist(), rows.history.index.tolist()
        header = "user_id:token\titem_id:token\ttimestamp:float" + ("\titem_id_list:token_seq" if sequences else "")
        lines = [header]
        for r, (u, i, t) in enumerate(zip(rows.user.tolist(), rows.item.tolist(), rows.event_order.tolist())):
            history = index[ptr[r] : ptr[r + 1]]
            if not sequences:
                lines.append(f"u{u}\ti{i}\t{t}")
            elif history:
                lines.append(f"u{u}\ti{i}\t{t}\t" + " ".join(f"i{h}" for h in history))
        (folder / f"{name}.{suffix}.inter").write_text("\n".join(lines) + "\n")
    # the whole catalogue, so an item only in no file still counts among the ranked (as `export_recbole`'s .item)
    (folder / f"{name}.item").write_text("item_id:token\n" + "".join(f"i{i}\n" for i in range(bundle.n_items)))


def has_history(split: InteractionSet) -> torch.Tensor:
    """Row positions of the split with a stored history: the rows RecBole's sequential models see."""
    return torch.nonzero(split.history.ptr.diff() > 0).squeeze(1)


def per_row_unmasked(model: Recommender, bundle: TrainingBundle, variant, split_name: str) -> tuple[dict[str, float], int]:
    """RecBole's sequential full sort: each row with a history ranks its item among all items, nothing masked."""
    split = getattr(bundle, split_name)
    rows = has_history(split)
    nothing_seen = bundle.timeline.truncated(int(bundle.train.event_order.min()))
    result = evaluate_full(model, split, nothing_seen, bundle.n_items, rows=rows,
                           make_query=batch_maker(variant, bundle, split_name))  # fmt: skip
    return mean_metrics(result.ranks), int(rows.numel())


def masks(bundle: TrainingBundle) -> tuple[SparseRows, SparseRows]:
    """(train items, train + valid items) per user: what RecBole masks at validation and at test."""
    return (
        bundle.timeline.items_before(int(bundle.val.event_order.min())),
        bundle.timeline.items_before(int(bundle.test.event_order.min())),
    )


class PopularityPositivesFirst(Recommender):
    """Training popularity, each user's test positives ahead of the items with the same count.

    Our protocol counts ties against the positive (the lower bound); RecBole's top-k orders equal
    scores arbitrarily. Half a count added to the positives (counts are integers) gives the upper
    bound: any tie-breaking lands between the two.
    """

    trainable = False

    def __init__(self, item_train_count: torch.Tensor, positives: SparseRows) -> None:
        super().__init__()
        self.register_buffer("popularity", item_train_count.to(torch.float32))
        self.positives = positives

    def score_all_items(self, batch: Batch) -> Scores:
        scores = self.popularity.expand(batch.user.shape[0], -1).clone()
        start, length = self.positives.ptr[batch.user], self.positives.ptr[batch.user + 1] - self.positives.ptr[batch.user]
        row = torch.repeat_interleave(torch.arange(batch.user.numel()), length)
        within = torch.arange(row.numel()) - (torch.cumsum(length, 0) - length)[row]
        scores[row, self.positives.index[start[row] + within]] += 0.5
        return Scores(scores, None)


@dataclass(frozen=True)
class OurRun:
    metrics: dict[str, float]
    users_evaluated: int
    epochs_run: int
    best_epoch: int
    seconds: float
    upper_bound: dict[str, float] | None = None  # pop: with ties in the positives' favour


def population_metrics(result: PerUserResult, bundle: TrainingBundle, users: str) -> tuple[dict[str, float], int]:
    """Per-user means over every evaluated user, or over the warm ones (a training interaction)."""
    keep = np.ones(len(result.users), dtype=bool)
    if users == "warm":
        keep = bundle.user_train_count[torch.from_numpy(result.users)].numpy() > 0
    return {name: float(values[keep].mean()) for name, values in result.per_user.items()}, int(keep.sum())


def recbole_init(model: Recommender) -> Recommender:
    """RecBole 1.2.1's initialisation on our GRU4Rec or SASRec (`--ours-init recbole`, a diagnostic).

    GRU4Rec: ours keeps PyTorch's defaults (N(0, 1) item embeddings, GRU with biases); RecBole draws
    the item embeddings xavier-normal (std about 0.1 here), the GRU weights xavier-uniform, and has no
    GRU biases. SASRec: ours draws only the embeddings N(0, 0.02) and keeps PyTorch's defaults in the
    blocks; RecBole draws every linear layer N(0, 0.02) too (query, key, value, output, feed-forward),
    with zero biases. Running ours both ways measures how much of a gap the initialisation explains.
    """
    if isinstance(model, GRU4Rec):
        gru = model.encoder.gru
        nn.init.xavier_normal_(model.encoder.item_emb.weight)  # in RecBole's order: embedding, hh, ih
        nn.init.xavier_uniform_(gru.weight_hh_l0)
        nn.init.xavier_uniform_(gru.weight_ih_l0)
        for bias in (gru.bias_ih_l0, gru.bias_hh_l0):
            nn.init.zeros_(bias)
            bias.requires_grad_(False)
    elif isinstance(model, SASRec):
        for name, parameter in model.blocks.named_parameters():
            if name.endswith("in_proj_weight") or (name.endswith("weight") and parameter.dim() == 2):
                nn.init.normal_(parameter, std=RECBOLE_INITIALIZER_RANGE)  # query/key/value, output, feed-forward
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(parameter)
    return model


class RecBoleShapedSASRec(SASRec):
    """Our SASRec with RecBole 1.2.1's block shape (`--ours-init recbole-shape`, a diagnostic): the input is
    LayerNorm(e + p) (no sqrt(d) scale), the blocks are post-norm (residual, then LayerNorm, eps 1e-12),
    and there is no final LayerNorm. Training, loss, data and evaluation stay ours."""

    def __init__(self, n_items: int, dims: ModelDims) -> None:
        super().__init__(n_items, dims)
        d = dims.embedding_dim
        block = nn.TransformerEncoderLayer(
            d, dims.attention_heads, dim_feedforward=d, dropout=dims.dropout, activation="relu",
            batch_first=True, norm_first=False, layer_norm_eps=RECBOLE_LAYER_NORM_EPS,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(block, dims.attention_blocks, enable_nested_tensor=False)
        self.input_norm = nn.LayerNorm(d, eps=RECBOLE_LAYER_NORM_EPS)

    def sequence_outputs(self, sequence: SequenceChunks) -> torch.Tensor:
        items = sequence.items
        positions = torch.arange(items.shape[1], device=items.device)
        x = self.dropout(self.input_norm(self.item_emb(items) + self.position_emb(positions)))
        x = x * (items > 0).unsqueeze(-1)
        return self.blocks(x, mask=causal_mask(items.shape[1], items.device))


OURS_INITS = {"ours": "ours", "recbole": "ours, RecBole's init", "recbole-shape": "ours, RecBole's init and block shape"}


def initialiser(name: str, dims: ModelDims) -> Callable[[Recommender], Recommender] | None:
    """`--ours-init` NAME -> the trainer's `initialise` hook (None: our own initialisation)."""
    if name == "ours":
        return None
    if name == "recbole":
        return recbole_init

    def reshaped(model: Recommender) -> Recommender:
        if not isinstance(model, SASRec):
            raise ValueError("--ours-init recbole-shape applies to SASRec only")
        return recbole_init(RecBoleShapedSASRec(model.item_emb.num_embeddings - 1, dims))

    return reshaped


def run_ours(pair: Pair, bundle: TrainingBundle, args: argparse.Namespace, seed: int, init: str = "ours") -> OurRun:
    """Train (early stopping on valid NDCG@10 under RecBole's protocol for the model), then that protocol on test."""
    train_mask, test_mask = masks(bundle)
    variant = VARIANTS[pair.ours].with_train(
        epochs=args.epochs, patience=args.patience, lr=args.lr, batch_size=args.batch_size, seed=seed,
        weight_decay=0.0, device="cpu", user_dropout=args.user_dropout, **pair.training,
    )
    started = time.perf_counter()

    def scored(model: Recommender, split_name: str, mask: SparseRows) -> tuple[dict[str, float], int]:
        if pair.sequential:
            return per_row_unmasked(model, bundle, variant, split_name)
        split = getattr(bundle, split_name)
        return population_metrics(evaluate_per_user(model, split, mask, make_query=batch_maker(variant, bundle, split_name)),
                                  bundle, args.users)  # fmt: skip

    trained = train(
        variant, bundle, validate=lambda model: scored(model, "val", train_mask)[0]["ndcg@10"],
        initialise=initialiser(init, variant.dims),
    )
    metrics, evaluated = scored(trained.model, "test", test_mask)
    return OurRun(metrics, evaluated, len(trained.history), trained.best_epoch, time.perf_counter() - started)


def run_pair(
    model: str, seed: int, args: argparse.Namespace, python: Path, database: Path, work_dir: Path
) -> tuple[dict, dict[str, OurRun]]:
    """RecBole's model and ours (once per `--ours-init` of a trained model) for one seed (a worker
    process: it loads its own bundle)."""
    torch.set_num_threads(1)
    with duckdb.connect(str(database), read_only=True) as con:
        bundle = load_training_bundle(con)
    pair = PAIRS[model]
    theirs = run_recbole(python, pair.recbole, recbole_config(args, work_dir / "data", seed, pair, work_dir), work_dir)
    ours = {init: run_ours(pair, bundle, args, seed, init) for init in (args.ours_init if pair.trained else ["ours"])}
    if model == "pop":
        _, test_mask = masks(bundle)
        test_positives = unique_items_by_user(bundle.test.user, bundle.test.item, bundle.n_users, bundle.n_items)
        upper = evaluate_per_user(PopularityPositivesFirst(bundle.item_train_count, test_positives), bundle.test, test_mask)
        ours["ours"] = replace(ours["ours"], upper_bound=population_metrics(upper, bundle, args.users)[0])
    return theirs, ours


# ------------------------------------------------------------------------------------ report


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def epochs_cell(epochs_run: int, best_epoch: int, cap: int) -> str:
    """Epochs run, the best one, and what ended the run: patience ("early stop") or the epoch cap ("cap",
    so the run may not have converged)."""
    return f"{epochs_run} ({best_epoch}), {'early stop' if epochs_run < cap else 'cap'}"


def print_report(rows: list[tuple[str, ...]]) -> None:
    header = ("model", "implementation", "seed", "NDCG@10", "Recall@10", "users (rows) evaluated",
              "epochs (best), stopped by")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="synthetic", help="synthetic | amazon2018 | amazon2023 | movielens")
    parser.add_argument("--scale", default="demo", help="synthetic scale")
    parser.add_argument("--folder", help="movielens: the extracted folder")
    parser.add_argument("--reviews", help="amazon2018/2023: the reviews file")
    parser.add_argument("--meta", help="amazon2018/2023: the metadata file")
    parser.add_argument("--warehouse", help="an existing DuckDB warehouse with the data tables (skips the build)")
    parser.add_argument("--seeds", default="42,43,44", help="seeds of the trained models, used on both sides")
    parser.add_argument("--epochs", type=int, default=300, help="epoch cap (RecBole's default)")
    parser.add_argument("--patience", type=int, default=10, help="epochs without valid NDCG@10 gain (RecBole's stopping_step)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (RecBole's default)")
    parser.add_argument("--batch-size", type=int, default=2048, help="training batch (RecBole's default)")
    parser.add_argument("--users", choices=("all", "warm"), default="all",
                        help="all test users (cold ones included), or only those with a training interaction")
    parser.add_argument("--user-dropout", type=float, default=VARIANTS["bpr_mf"].train.user_dropout,
                        help="share of training rows that train the unknown-user row (0: none, as RecBole)")
    parser.add_argument("--ours-init", default="ours",
                        help="comma list, ours trained once per entry: ours | recbole (our GRU4Rec / SASRec with RecBole's "
                             "initialisation) | recbole-shape (SASRec: RecBole's init and block shape); diagnostics of a gap")
    parser.add_argument("--models", default="pop,bpr", help=f"which pairs to run, of {','.join(PAIRS)}")
    parser.add_argument("--jobs", type=int, default=1, help="(model, seed) pairs run at once, each in its own process")
    parser.add_argument("--cache-dir", default=str(BENCH / ".cache"))
    args = parser.parse_args(argv)
    args.ours_init = args.ours_init.split(",")
    if unknown_inits := set(args.ours_init) - set(OURS_INITS):
        parser.error(f"unknown --ours-init {sorted(unknown_inits)}; known: {', '.join(OURS_INITS)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    models = [model for model in PAIRS if model in args.models.split(",")]
    if unknown := set(args.models.split(",")) - set(PAIRS):
        parser.error(f"unknown models {sorted(unknown)}; known: {', '.join(PAIRS)}")
    cache_dir = Path(args.cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)

    python = recbole_python(cache_dir)
    database = build_warehouse(args, cache_dir)
    work_dir = cache_dir / f"recbole-{database.stem}-{args.users}"  # rewritten by every run
    work_dir.mkdir(exist_ok=True)
    with duckdb.connect(str(database), read_only=True) as con:
        files = export_recbole(con, work_dir / "data" / DATASET, DATASET, users=args.users)
        bundle = load_training_bundle(con)  # for the figures printed here; each job loads its own
    if any(PAIRS[model].sequential for model in models):
        export_split(bundle, work_dir / "data" / SEQUENCE_DATASET, SEQUENCE_DATASET, sequences=True)
    cold = int((bundle.user_train_count[bundle.test.user.unique()] == 0).sum())
    print(f"data: {database} -> {work_dir / 'data' / DATASET}")
    print(f"split rows: train {files['train.inter'].rows}, valid {files['valid.inter'].rows}, test {files['test.inter'].rows}; "
          f"{bundle.n_users} users, {bundle.n_items} items; {cold} test users have no training interaction")  # fmt: skip
    print(f"users: {args.users} (sequential models: every test row with a history). Trained models: lr {args.lr}, "
          f"batch {args.batch_size}, epochs <= {args.epochs}, patience {args.patience}, seeds {seeds}; "
          f"our user dropout {args.user_dropout}, our initialisations {','.join(args.ours_init)}", flush=True)  # fmt: skip

    jobs = [(model, seed) for model in models for seed in (seeds if PAIRS[model].trained else seeds[:1])]
    # spawn: a forked child would inherit this process's torch thread pool (see hybridrec_assets.pipeline)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {job: pool.submit(run_pair, job[0], job[1], args, python, database, work_dir) for job in jobs}
        outcomes = {}
        for job, future in futures.items():
            outcomes[job] = future.result()
            theirs, ours = outcomes[job]
            done = [f"RecBole {theirs['seconds']:.0f} s, {epochs_cell(theirs['epochs_run'], theirs['best_epoch'], args.epochs)}"]
            done += [f"{OURS_INITS[init]} {run.seconds:.0f} s, {epochs_cell(run.epochs_run, run.best_epoch, args.epochs)}"
                     for init, run in ours.items()]  # fmt: skip
            figures = "; ".join(
                f"{m} RecBole {theirs['test'][m]:.4f} " + " ".join(f"{OURS_INITS[init]} {run.metrics[m]:.4f}" for init, run in ours.items())
                for m in SHOWN
            )
            print(f"{job[0]} seed {job[1]} done ({'; '.join(done)}): {figures}", flush=True)

    rows: list[tuple[str, ...]] = []
    for model in models:
        pair = PAIRS[model]
        if not pair.trained:
            theirs, ours = outcomes[(model, seeds[0])]
            run = ours["ours"]
            rows += [
                (pair.recbole, "RecBole 1.2.1", "–", *(f"{theirs['test'][m]:.4f}" for m in SHOWN),
                 str(theirs["users_evaluated"]), "1"),
                (pair.ours, "ours" + (" (ties count against the positive)" if model == "pop" else ""), "–",
                 *(f"{run.metrics[m]:.4f}" for m in SHOWN), str(run.users_evaluated), "–"),
            ]  # fmt: skip
            if run.upper_bound is not None:
                rows.append((pair.ours, "ours, ties in the positive's favour", "–",
                             *(f"{run.upper_bound[m]:.4f}" for m in SHOWN), str(run.users_evaluated), "–"))  # fmt: skip
            continue
        sides = ["RecBole 1.2.1", *(OURS_INITS[init] for init in args.ours_init)]
        figures: dict[str, dict[str, list[float]]] = {side: {m: [] for m in SHOWN} for side in sides}
        for seed in seeds:
            theirs, ours = outcomes[(model, seed)]
            for m in SHOWN:
                figures["RecBole 1.2.1"][m].append(theirs["test"][m])
            rows.append((pair.recbole, "RecBole 1.2.1", str(seed), *(f"{theirs['test'][m]:.4f}" for m in SHOWN),
                         str(theirs["users_evaluated"]), epochs_cell(theirs["epochs_run"], theirs["best_epoch"], args.epochs)))  # fmt: skip
            for init, run in ours.items():
                for m in SHOWN:
                    figures[OURS_INITS[init]][m].append(run.metrics[m])
                rows.append((pair.ours, OURS_INITS[init], str(seed), *(f"{run.metrics[m]:.4f}" for m in SHOWN),
                             str(run.users_evaluated), epochs_cell(run.epochs_run, run.best_epoch, args.epochs)))  # fmt: skip
        for side in sides:
            name = pair.recbole if side == "RecBole 1.2.1" else pair.ours
            rows.append((name, f"{side}, mean ± sd", f"{len(seeds)} seeds", *(_mean_sd(figures[side][m]) for m in SHOWN), "", ""))
    print()
    print_report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
