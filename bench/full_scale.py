"""Full-scale benchmark: every variant trained and evaluated on the `full` synthetic data, time-boxed.

    python bench/full_scale.py [--variants v1,v2,...] [--train-steps 20] [--eval-rows 256]
                               [--device auto|cpu|cuda] [--threads N] [--cache-dir bench/.cache]

Each variant runs in a fresh process on the DuckDB file that `bench/data_layer.py --scale full`
builds (built first when absent), so its peak RSS (from wait4) is its own. A variant process does
what the `trained_model` and `evaluation` assets do, cut short: load the bundle and the stored
negatives, train `--train-steps` batches through the real trainer (`steps_per_epoch`, with its
per-epoch checkpoint), then score `--eval-rows` test rows, evenly spaced over the test period,
with both protocols at the per-device block sizes. It prints rows/s and extrapolates a full
training epoch and the full evaluation of every test row (both protocols) from those rates.

On CUDA the trainer uses autocast (bf16 where supported, else fp16 with a GradScaler), the
evaluation runs with the CUDA block sizes, and peak GPU memory is reported. Targets: peak RSS
<= 16 GB per variant on CPU; on an H200-class GPU a v1 epoch <= 60 s and the full evaluation
<= 60 s. The study trained v1 for 30 epochs in ~75 min on a T4 (2.5 min per epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import torch

# Measure the code of this checkout, whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.protocols import evaluate_full, evaluate_sampled, validator_for
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.training.trainer import CHECKPOINT_NAME, resolve_device, train

RSS_TARGET_GB = 16.0
GPU_TARGET_S = 60.0  # H200-class GPU: one v1 epoch, and the full evaluation of every test row
STUDY_V1_EPOCH_S = 75 * 60 / 30  # the study: v1, 30 epochs in ~75 min on a T4
VALIDATION_ROWS = 256  # the trainer's per-epoch validation, kept small: it is not what is measured


def tensor_bytes(value: object) -> int:
    """Bytes held by the tensors of a (nested) dataclass such as a `TrainingBundle`."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if dataclasses.is_dataclass(value):
        return sum(tensor_bytes(getattr(value, field.name)) for field in dataclasses.fields(value))
    return 0


def run_variant(name: str, database: Path, device: str, train_steps: int, eval_rows: int) -> dict:
    """Child process: load, train `train_steps` batches, evaluate `eval_rows` test rows; one JSON line of figures."""
    figures: dict[str, object] = {"variant": name}
    started = time.perf_counter()
    with duckdb.connect(str(database), read_only=True) as con:
        bundle = load_training_bundle(con, max_history=VARIANTS[name].dims.max_history)
        val_negatives = load_eval_negatives(con, bundle.val.event_order)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    figures |= {
        "load_s": time.perf_counter() - started,
        "bundle_gb": tensor_bytes(bundle) / 1e9,
        "negatives_gb": (tensor_bytes(val_negatives) + tensor_bytes(test_negatives)) / 1e9,
        "train_rows": len(bundle.train),
        "test_rows": len(bundle.test),
        "rss_after_load_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }

    variant = VARIANTS[name].with_train(
        epochs=1, patience=1, steps_per_epoch=train_steps, device=device, val_max_rows=VALIDATION_ROWS
    )
    validate = validator_for(variant, bundle)
    with tempfile.TemporaryDirectory(prefix="full_scale-") as checkpoints:
        result = train(variant, bundle, validate=validate, checkpoint_dir=Path(checkpoints))
        checkpoint = Path(checkpoints) / CHECKPOINT_NAME
        figures["checkpoint_gb"] = checkpoint.stat().st_size / 1e9 if checkpoint.exists() else 0.0
    model = result.model
    figures |= {
        "device": result.device,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_gb": sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e9,
    }
    if result.history:
        epoch = result.history[0]
        figures |= {"train_rows_timed": epoch.rows, "train_rows_per_s": epoch.samples_per_s}
        figures["epoch_s"] = len(bundle.train) / epoch.samples_per_s

    rows = torch.linspace(0, len(bundle.test) - 1, min(eval_rows, len(bundle.test))).round().long()
    started = time.perf_counter()  # one-off per evaluation: the catalogue's item sides, cached by the model
    evaluate_sampled(model, bundle.test, test_negatives, rows=rows[:1])
    figures["catalogue_s"] = time.perf_counter() - started
    for protocol, evaluate in (
        ("sampled", lambda: evaluate_sampled(model, bundle.test, test_negatives, rows=rows)),
        ("full", lambda: evaluate_full(model, bundle.test, bundle.timeline, bundle.n_items, rows=rows,
                                      make_query=batch_maker(variant, bundle, "test"))),
    ):
        _synchronize(result.device)
        started = time.perf_counter()
        evaluate()
        _synchronize(result.device)
        figures[f"{protocol}_rows_per_s"] = len(rows) / (time.perf_counter() - started)
    figures["eval_rows_timed"] = len(rows)
    figures["eval_users_timed"] = int(bundle.test.user[rows].unique().numel())
    figures["evaluation_s"] = figures["catalogue_s"] + sum(
        len(bundle.test) / figures[f"{protocol}_rows_per_s"] for protocol in ("sampled", "full")
    )
    if result.device.startswith("cuda"):
        figures["gpu_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return figures


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(name: str, database: Path, args: argparse.Namespace) -> dict:
    """Run one variant in a fresh interpreter; add its peak RSS as reported by the kernel."""
    command = [
        sys.executable, __file__, "--run-variant", name, "--database", str(database), "--device", args.device,
        "--train-steps", str(args.train_steps), "--eval-rows", str(args.eval_rows), "--threads", str(args.threads),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"variant {name} failed with exit status {os.waitstatus_to_exitcode(status)}")
    figures = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_gb"] = usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    return figures


def full_database(cache_dir: Path) -> Path:
    """The `full` DuckDB file of bench/data_layer.py, built by it when absent."""
    database = cache_dir / "data_layer-full.duckdb"
    if not database.exists():
        print(f"building {database} with bench/data_layer.py (once) ...", flush=True)
        data_layer = Path(__file__).with_name("data_layer.py")
        subprocess.run([sys.executable, str(data_layer), "--scale", "full", "--cache-dir", str(cache_dir)], check=True)
    return database


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def report(results: list[dict], args: argparse.Namespace) -> str:
    gpu = any(r["device"].startswith("cuda") for r in results)
    lines = [
        "| variant | params | load s | bundle GB | train rows/s | epoch | sampled rows/s | full rows/s | "
        "evaluation | checkpoint GB | peak RSS GB |" + (" GPU peak GB |" if gpu else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""),
    ]
    for r in results:
        rate = f"{r['train_rows_per_s']:,.0f}" if "train_rows_per_s" in r else "- (not trained)"
        lines.append(
            f"| {r['variant']} | {r['parameters']:,} | {r['load_s']:.1f} | {r['bundle_gb']:.2f} | {rate} | "
            f"{_duration(r.get('epoch_s'))} | {r['sampled_rows_per_s']:,.0f} | {r['full_rows_per_s']:,.1f} | "
            f"{_duration(r['evaluation_s'])} | {r['checkpoint_gb']:.2f} | {r['peak_rss_gb']:.2f} |"
            + (f" {r.get('gpu_peak_gb', 0.0):.2f} |" if gpu else "")
        )
    first = results[0]
    peak = max(r["peak_rss_gb"] for r in results)
    lines += [
        "",
        f"device {first['device']}, torch threads {args.threads}; {first['train_rows']:,} training rows, "
        f"{first['test_rows']:,} test rows; timed: {args.train_steps} training batches per variant, "
        f"{first['eval_rows_timed']} test rows ({first['eval_users_timed']} users) per protocol",
        "epoch = training rows / train rows/s (loop only, no validation); evaluation = every test row, "
        "both protocols, plus the one-off catalogue item sides",
        f"peak RSS {peak:.2f} GB (target <= {RSS_TARGET_GB:.0f} GB per variant: "
        f"{'met' if peak <= RSS_TARGET_GB else 'MISSED'})",
    ]
    v1 = next((r for r in results if r["variant"] == "v1" and "epoch_s" in r), None)
    if v1 is not None:
        lines.append(
            f"v1 epoch {_duration(v1['epoch_s'])} = {v1['epoch_s'] / STUDY_V1_EPOCH_S:.2f}x the study's "
            f"{_duration(STUDY_V1_EPOCH_S)} per epoch on a T4 (30 epochs in ~75 min)"
        )
        if gpu:
            for what, seconds in (("v1 epoch", v1["epoch_s"]), ("v1 full evaluation", v1["evaluation_s"])):
                verdict = "met" if seconds <= GPU_TARGET_S else "MISSED"
                lines.append(f"{what} {seconds:.0f} s (H200-class target <= {GPU_TARGET_S:.0f} s: {verdict})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--train-steps", type=int, default=20, help="training batches timed per variant")
    parser.add_argument("--eval-rows", type=int, default=256, help="test rows timed per protocol and variant")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--run-variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.run_variant:
        device = str(resolve_device(args.device))
        print(json.dumps(run_variant(args.run_variant, args.database, device, args.train_steps, args.eval_rows)))
        return

    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    database = full_database(args.cache_dir)
    results = []
    for name in args.variants.split(","):
        results.append(measure(name, database, args))
        r = results[-1]
        print(json.dumps(r), flush=True)
        print(f"{name}: {r.get('train_rows_per_s', 0):,.0f} train rows/s, {r['full_rows_per_s']:,.1f} full-ranking "
              f"rows/s, peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)
    print()
    print(report(results, args))


if __name__ == "__main__":
    main()
