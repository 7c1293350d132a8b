"""Run one RecBole model on exported atomic files and print its test figures as one JSON line.

    <recbole venv>/bin/python bench/recbole_runner.py spec.json

Executed by the RecBole virtualenv that `bench/recbole_parity.py` builds (it imports only RecBole,
never this project). The spec holds `model`, `dataset` and RecBole's `config` dict.
"""

from __future__ import annotations

import json
import logging
import sys


def check_one_item_space(field2id_token: dict) -> None:
    """A history id must name the item a target id names: the sequential models embed both with one table.

    RecBole remaps a token field apart from item_id unless `alias_of_item_id` lists it; then history
    item k and target item k are different items and the model trains on permuted histories.
    """
    if "item_id_list" not in field2id_token:
        return
    history, items = list(field2id_token["item_id_list"]), list(field2id_token["item_id"])
    if history != items[: len(history)]:
        raise ValueError("item_id_list is remapped apart from item_id (set alias_of_item_id: [item_id_list])")


def run(spec: dict) -> dict:
    """RecBole's own `run_recbole` sequence, keeping what it does not return: users evaluated, epochs."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    config = Config(model=spec["model"], dataset=spec["dataset"], config_dict=spec["config"])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    check_one_item_space(dataset.field2id_token)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    _, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False)
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    epochs_run = len(trainer.train_loss_dict)
    return {
        "model": spec["model"],
        "seed": config["seed"],
        "test": {name: float(value) for name, value in test.items()},
        "best_valid": {name: float(value) for name, value in (best_valid or {}).items()},
        # sequential models are evaluated per test row (each row its own history), the others per user
        "users_evaluated": int(len(test_data.uid_list) if hasattr(test_data, "uid_list") else test_data.sample_size),
        "items": int(dataset.item_num - 1),  # without RecBole's [PAD] item 0
        "train_rows": int(len(train_data.dataset)),
        "epochs_run": epochs_run,
        # cur_step counts the evaluations since the last improvement (1-based epochs)
        "best_epoch": epochs_run - trainer.cur_step * config["eval_step"],
    }


if __name__ == "__main__":
    logging.disable(logging.INFO)
    with open(sys.argv[1], encoding="utf-8") as handle:
        result = run(json.load(handle))
    print(json.dumps(result))
