import pytest
import torch

from hybridrec_ml.training.checkpoint import load_checkpoint, save_checkpoint


def test_checkpoint_round_trips_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "run" / "last.pt"
    save_checkpoint({"weights": torch.arange(3.0), "epoch": 2, "alpha": (0.5, 0.25, 0.25)}, path)
    state = load_checkpoint(path)
    assert torch.equal(state["weights"], torch.arange(3.0))
    assert (state["epoch"], state["alpha"]) == (2, (0.5, 0.25, 0.25))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)
    with pytest.raises(Exception):
        save_checkpoint({"epoch": 2, "unpicklable": lambda: None}, path)
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_loading_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": pytest.approx(1.0)}, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_checkpoint(path)
