import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The build machines share 2 cores between several test runs: keep torch to one thread."""
    torch.set_num_threads(1)
