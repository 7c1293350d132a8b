"""Training throughput (rows/s) of v1 on both history paths, `no_dynamic` and `bpr_mf`, against references.

Ours: `hybridrec_ml.training.trainer.train` for one epoch of each of
  v1 (chunks)  the sequence path: one GRU pass per user-sequence chunk (the default),
  v1 (window)  the per-row path: the GRU re-reads each row's window of up to 50 items,
  no_dynamic, bpr_mf  (no GRU at all),
with the ratio of the two v1 paths. References measured in the same run:
  - the straightforward step (the same architecture written the usual way: a per-sample torch
    Dataset + DataLoader, padded history, DENSE TF-IDF rows, the model called once per positive
    and once per negative), a few batches only (--reference-batches, 0 skips it);
  - RecBole 1.2.1 GRU4Rec (one 2-layer GRU, hidden 128, BPR with one negative) and NeuMF (BCE, one
    negative), one epoch each on the same training rows exported as RecBole atomic files, in their
    own virtualenv under bench/.cache (built on first use: numpy<2, setuptools<81, pandas<2.2,
    torch==2.13.0, recbole==1.2.1); --no-recbole skips them.

Data: --data pipeline (default): the `demo` synthetic world through the real pipeline (generate ->
ingest -> 5-core -> split -> sequences -> context -> TF-IDF -> load_training_bundle);
--data generated: a demo-size bundle built in code (4K users, 1.5K items, 60K interactions);
--data long: built in code, 200 users x 120 interactions each (1.5K items), so most training rows
and every evaluated row have a history at the 50-item cap.

    python bench/training_throughput.py --data long [--threads 2] [--reference-batches 0] [--no-recbole] [--no-window]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, whatever is installed

from hybridrec_ml.config import VARIANTS, VariantConfig
from hybridrec_ml.models.losses import bpr_loss
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, TrainingBundle
from hybridrec_ml.tensors.bundle_loader import csr_from_pairs, load_training_bundle, unique_items_by_user, user_timeline
from hybridrec_ml.training.trainer import train
from recbole_parity import ONE_ITEM_SPACE, export_split, recbole_python  # bench/ is on sys.path when this script runs: one RecBole env builder


def pipeline_bundle(work_dir: Path, max_history: int) -> TrainingBundle:
    """The `demo` synthetic world through every data step the assets run."""
    from hybridrec_ml.data.sources.registry import SyntheticOptions
    from hybridrec_ml.data_layer import synthetic_warehouse

    database = synthetic_warehouse(work_dir, SyntheticOptions(scale="demo"), max_history=max_history)
    with duckdb.connect(str(database), read_only=True) as con:
        return load_training_bundle(con, max_history=max_history)


def generated_bundle(
    n_users: int = 4_000,
    n_items: int = 1_500,
    n_interactions: int = 60_000,
    vocab: int = 5_000,
    terms_per_item: int = 40,
    max_history: int = 50,
    seed: int = 0,
    per_user: int | None = None,
) -> TrainingBundle:
    """A bundle without the pipeline: Zipf-like popularity, random times, random sparse text.

    per_user: every user has exactly this many interactions (n_interactions = n_users * per_user),
    spread at random over time; otherwise each interaction's user is drawn uniformly.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    if per_user is not None:
        n_interactions = n_users * per_user
        user = torch.from_numpy(rng.permutation(np.repeat(np.arange(n_users), per_user)))
    else:
        user = torch.from_numpy(rng.integers(0, n_users, n_interactions))
    item = torch.from_numpy(rng.choice(n_items, n_interactions, p=popularity / popularity.sum()))
    context = torch.from_numpy(rng.random((n_interactions, 5), dtype=np.float32))
    # rows are in event order; a row's history is the user's previous <= max_history items, read
    # from the interactions sorted by (user, event order): a CSR over that order, cut per row
    by_user = torch.from_numpy(np.lexsort((np.arange(n_interactions), user.numpy())))
    counts = torch.bincount(user, minlength=n_users)
    first_of_user = torch.cumsum(counts, 0) - counts
    position = torch.empty(n_interactions, dtype=torch.int64)  # index of the row within its user's rows
    position[by_user] = torch.arange(n_interactions) - first_of_user[user[by_user]]
    lengths = position.clamp(max=max_history)
    ptr = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)])
    starts = first_of_user[user] + position - lengths
    take = torch.repeat_interleave(starts - ptr[:-1], lengths) + torch.arange(int(ptr[-1]))
    history = SparseRows(ptr, item[by_user][take], None, n_items)

    def rows(which: torch.Tensor) -> InteractionSet:
        return InteractionSet(which, user[which], item[which], context[which], csr_subset(history, which))

    n_train, n_val = int(0.7 * n_interactions), int(0.85 * n_interactions)
    train_set = rows(torch.arange(n_train))
    in_train = torch.zeros(n_users, dtype=torch.bool)
    in_train[train_set.user] = True
    evaluable = torch.nonzero(in_train[user]).squeeze(1)  # val/test rows whose user has training rows
    terms = torch.from_numpy(np.argsort(rng.random((n_items, vocab)), axis=1)[:, :terms_per_item]).sort(dim=1).values
    weights = torch.from_numpy(rng.random((n_items, terms_per_item), dtype=np.float32))
    weights /= weights.norm(dim=1, keepdim=True)
    return TrainingBundle(
        n_users=n_users,
        n_items=n_items,
        train=train_set,
        val=rows(evaluable[(evaluable >= n_train) & (evaluable < n_val)]),
        test=rows(evaluable[evaluable >= n_val]),
        tfidf=csr_from_pairs(
            torch.arange(n_items).repeat_interleave(terms_per_item), terms.flatten(), weights.flatten(), n_items, vocab
        ),
        train_items_by_user=unique_items_by_user(train_set.user, train_set.item, n_users, n_items),
        timeline=user_timeline(user, item, torch.arange(n_interactions), n_users, n_items),
        user_train_count=torch.bincount(train_set.user, minlength=n_users),
        item_train_count=torch.bincount(train_set.item, minlength=n_items),
    )


def csr_subset(rows: SparseRows, which: torch.Tensor) -> SparseRows:
    """The CSR rows `which`, in that order."""
    lengths = rows.ptr[which + 1] - rows.ptr[which]
    ptr = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)])
    take = torch.repeat_interleave(rows.ptr[which] - ptr[:-1], lengths) + torch.arange(int(ptr[-1]))
    return SparseRows(ptr, rows.index[take], None, rows.n_cols)


class PerSampleTriples(Dataset):
    """One training row at a time: padded history, context, positive/negative and their dense TF-IDF rows."""

    def __init__(self, bundle: TrainingBundle, max_history: int, seed: int) -> None:
        self.split, self.max_history, self.vocab = bundle.train, max_history, bundle.tfidf.n_cols
        self.tfidf = bundle.tfidf
        held = bundle.train_items_by_user
        self.user_items = [set(held.index[held.ptr[u] : held.ptr[u + 1]].tolist()) for u in range(bundle.n_users)]
        self.n_items = bundle.n_items
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.split)

    def dense_tfidf(self, item: int) -> torch.Tensor:
        row = torch.zeros(self.vocab)
        lo, hi = int(self.tfidf.ptr[item]), int(self.tfidf.ptr[item + 1])
        row[self.tfidf.index[lo:hi]] = self.tfidf.weight[lo:hi]
        return row

    def __getitem__(self, r: int) -> dict[str, torch.Tensor]:
        user, positive = int(self.split.user[r]), int(self.split.item[r])
        negative = self.rng.randrange(self.n_items)
        while negative in self.user_items[user]:
            negative = self.rng.randrange(self.n_items)
        lo, hi = int(self.split.history.ptr[r]), int(self.split.history.ptr[r + 1])
        recent = self.split.history.index[max(lo, hi - self.max_history) : hi] + 1
        history = torch.zeros(self.max_history, dtype=torch.int64)
        history[: recent.numel()] = recent
        return {
            "user": torch.tensor(user),
            "history": history,
            "length": torch.tensor(recent.numel()),
            "context": self.split.context[r],
            "positive": torch.tensor(positive),
            "negative": torch.tensor(negative),
            "positive_tfidf": self.dense_tfidf(positive),
            "negative_tfidf": self.dense_tfidf(negative),
        }


class ReferenceHybrid(nn.Module):
    """The same architecture written directly: one forward per (row, item) pair, dense TF-IDF input."""

    def __init__(self, n_users: int, n_items: int, vocab: int) -> None:
        super().__init__()
        self.ncf_user, self.ncf_item = nn.Embedding(n_users, 64), nn.Embedding(n_items, 64)
        self.ncf_mlp = nn.Sequential(nn.Linear(128, 64), nn.ReLU())
        self.seq_item = nn.Embedding(n_items + 1, 64, padding_idx=0)
        self.gru = nn.GRU(64, 128, num_layers=2, batch_first=True)
        self.seq_out = nn.Sequential(nn.Linear(128 + 64, 64), nn.ReLU())
        self.content_user = nn.Embedding(n_users, 64)
        self.content_mlp = nn.Sequential(
            nn.Linear(vocab, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 64)
        )
        self.gate = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3))
        self.head = nn.Linear(64, 1)

    def forward(self, user, history, length, context, item, item_tfidf):  # noqa: ANN001, ANN201
        static = self.ncf_mlp(torch.cat([self.ncf_user(user), self.ncf_item(item)], dim=1))
        embedded = self.seq_item(history)
        packed = pack_padded_sequence(embedded, length.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)
        state = h_n[-1] * (length > 0).unsqueeze(1)
        dynamic = self.seq_out(torch.cat([state, self.seq_item(item + 1)], dim=1))
        content = self.content_user(user) * self.content_mlp(item_tfidf)
        alpha = torch.softmax(self.gate(context), dim=1)
        fused = alpha[:, :1] * static + alpha[:, 1:2] * dynamic + alpha[:, 2:] * content
        return self.head(fused).squeeze(1)


def reference_rate(bundle: TrainingBundle, variant: VariantConfig, n_batches: int) -> float:
    """Rows/s of the straightforward step over `n_batches` batches (after one warm-up batch)."""
    torch.manual_seed(variant.train.seed)
    model = ReferenceHybrid(bundle.n_users, bundle.n_items, bundle.tfidf.n_cols)
    optimizer = torch.optim.Adam(model.parameters(), lr=variant.train.lr)
    loader = DataLoader(
        PerSampleTriples(bundle, variant.dims.max_history, variant.train.seed),
        batch_size=variant.train.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(variant.train.seed),
    )
    rows, started = 0, 0.0
    for step, b in enumerate(loader):
        if step == 1:
            rows, started = 0, time.perf_counter()
        query = (b["user"], b["history"], b["length"], b["context"])
        positive = model(*query, b["positive"], b["positive_tfidf"])
        negative = model(*query, b["negative"], b["negative_tfidf"])
        loss = bpr_loss(positive, negative.unsqueeze(1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rows += b["user"].numel()
        if step == n_batches:
            break
    return rows / (time.perf_counter() - started)


def our_rate(bundle: TrainingBundle, variant: VariantConfig) -> tuple[float, float]:
    """(rows/s, seconds) of one training epoch through `train` (validation stubbed out)."""
    result = train(variant.with_train(epochs=1), bundle, validate=lambda model: 0.0)
    return result.history[0].samples_per_s, result.history[0].seconds


# ------------------------------------------------------------------------------------ RecBole 1.2.1

CACHE = Path(__file__).resolve().parent / ".cache"
# One epoch of a RecBole model on the exported files, timed around Trainer.fit (no validation).
RECBOLE_EPOCH = """
import json, sys, time, torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed
settings = json.loads(sys.argv[1])
torch.set_num_threads(settings.pop("threads"))
config = Config(model=settings.pop("model"), dataset=settings.pop("dataset"), config_dict=settings)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, _ = data_preparation(config, dataset)
model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
started = time.perf_counter()
trainer._train_epoch(train_data, 0, show_progress=False)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(train_data.dataset)}))
"""
RECBOLE_MODELS = {
    "GRU4Rec": {"embedding_size": 64, "hidden_size": 128, "num_layers": 2, "dropout_prob": 0.0, "loss_type": "BPR",
                "MAX_ITEM_LIST_LENGTH": 50},
    "NeuMF": {"mf_embedding_size": 64, "mlp_embedding_size": 64, "mlp_hidden_size": [128, 64], "dropout_prob": 0.0},
}  # fmt: skip


def recbole_epoch_seconds(bundle: TrainingBundle, model: str, threads: int, batch_size: int) -> tuple[float, int]:
    """(seconds, training rows) of one RecBole epoch of `model` on the bundle's split."""
    with tempfile.TemporaryDirectory() as data_path:
        sequential = model == "GRU4Rec"
        export_split(bundle, Path(data_path) / "bench", "bench", sequences=sequential)
        columns = ["user_id", "item_id", "timestamp", *(["item_id_list"] if sequential else [])]
        settings = {
            "model": model, "dataset": "bench", "data_path": data_path, "threads": threads,
            "benchmark_filename": ["train", "valid", "test"], "load_col": {"inter": columns},
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "train_batch_size": batch_size,
            "epochs": 1, "eval_step": 0, "device": "cpu", "use_gpu": False, "seed": 42, "reproducibility": True,
            "checkpoint_dir": str(Path(data_path) / "saved"), "show_progress": False, "log_wandb": False,
            **RECBOLE_MODELS[model], **(ONE_ITEM_SPACE if sequential else {}),
        }  # fmt: skip
        done = subprocess.run(
            [str(recbole_python(CACHE)), "-c", RECBOLE_EPOCH, json.dumps(settings)],
            capture_output=True, text=True, cwd=data_path, env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"RecBole {model} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return result["seconds"], result["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("pipeline", "generated", "long"), default="pipeline")
    parser.add_argument("--reference-batches", type=int, default=8)
    parser.add_argument("--no-recbole", action="store_true")
    parser.add_argument("--no-window", action="store_true", help="skip the per-row path (slow on long histories)")
    # 1 by default: on a shared 2-core machine more threads than free cores make every small op wait
    # for a descheduled thread (measured: 10x slower); compare implementations at equal threads
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    variant = VARIANTS["v1"]
    started = time.perf_counter()
    if args.data == "pipeline":
        with tempfile.TemporaryDirectory() as work_dir:
            bundle = pipeline_bundle(Path(work_dir), variant.dims.max_history)
    elif args.data == "generated":
        bundle = generated_bundle(max_history=variant.dims.max_history)
    else:
        bundle = generated_bundle(n_users=200, per_user=120, max_history=variant.dims.max_history)
    terms = bundle.tfidf.index.numel() / bundle.n_items
    history = (bundle.train.history.ptr[1:] - bundle.train.history.ptr[:-1]).float()
    print(
        f"data ({args.data}, {time.perf_counter() - started:.1f}s): {bundle.n_users} users, {bundle.n_items} items, "
        f"{len(bundle.train)} train rows, vocab {bundle.tfidf.n_cols}, {terms:.1f} terms/item, "
        f"mean history {float(history.mean()):.1f} ({float((history == variant.dims.max_history).float().mean()):.0%} "
        f"at the cap); torch threads {torch.get_num_threads()}"
    )

    rates: dict[str, tuple[float, float]] = {}
    runs = {
        "v1 (chunks)": VARIANTS["v1"].with_train(sequence="chunks"),
        "v1 (window)": VARIANTS["v1"].with_train(sequence="window"),
        "no_dynamic": VARIANTS["no_dynamic"],
        "bpr_mf": VARIANTS["bpr_mf"],
    }
    if args.no_window:
        del runs["v1 (window)"]
    for label, run in runs.items():
        rates[label] = our_rate(bundle, run.with_train(device="cpu"))
        print(f"{label:<12} (cpu, fp32): {rates[label][0]:10.0f} rows/s  (epoch of {len(bundle.train)} rows: {rates[label][1]:.1f}s)")
    if "v1 (window)" in rates:
        print(f"v1 chunks / v1 window: {rates['v1 (chunks)'][0] / rates['v1 (window)'][0]:.1f}x rows/s")
    if args.reference_batches:
        reference = reference_rate(bundle, variant.with_train(device="cpu"), args.reference_batches)
        print(f"straightforward step (cpu, fp32): {reference:10.0f} rows/s ({args.reference_batches} batches); "
              f"v1 chunks / it: {rates['v1 (chunks)'][0] / reference:.1f}x")
    if not args.no_recbole:
        v1_epoch = rates["v1 (chunks)"][1]
        for model in RECBOLE_MODELS:
            seconds, rows = recbole_epoch_seconds(bundle, model, args.threads, variant.train.batch_size)
            print(f"RecBole 1.2.1 {model:<8}: epoch {seconds:.1f}s ({rows} rows, {rows / seconds:.0f} rows/s); "
                  f"v1 (chunks) epoch / it: {v1_epoch / seconds:.2f}")
    if torch.cuda.is_available():
        for label in runs:
            gpu_rate, gpu_seconds = our_rate(bundle, runs[label].with_train(device="cuda"))
            print(f"{label:<12} (cuda, mixed precision): {gpu_rate:10.0f} rows/s (epoch {gpu_seconds:.1f}s)")


if __name__ == "__main__":
    main()
