"""The local backend offers what this machine has and bills own hardware at `local_rate`."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.errors import InvalidRequestError
from core.jobs.service import create_job, estimate_cost
from core.money import gpu_offer
from tests.core.helpers import queue_jobs


@pytest.fixture
def local_workspace(make_workspace, monkeypatch):
    """A workspace on the local backend of a machine whose NVML finds `gpus`."""

    def make(gpus: dict[str, int], **settings):
        monkeypatch.setattr(gpu_offer, "local_gpus", lambda: dict(gpus))
        return make_workspace(cluster="local", **settings)

    return make


def test_a_machine_without_gpus_refuses_an_h100_in_one_line(local_workspace, dataset_file):
    ws = local_workspace({})
    (dataset_job,) = queue_jobs(ws, dataset_file, gpu_type="cpu")
    with pytest.raises(InvalidRequestError) as refused:
        create_job(ws, dataset_id=dataset_job.dataset_id, gpu_type="H100")
    assert str(refused.value) == "GPU type 'H100' is not on this machine; the local backend offers cpu"
    assert dataset_job.gpu_type == "cpu" and dataset_job.hourly_rate == 0.0  # own hardware: free


def test_the_gpus_nvml_finds_are_offered_by_name_and_count_at_the_local_rate(local_workspace, dataset_file):
    ws = local_workspace({"NVIDIA H100 80GB HBM3": 2}, local_rate=0.4)
    (job,) = queue_jobs(ws, dataset_file, gpu_type="H100", gpu_count=2)  # part of the name will do
    assert (job.gpu_type, job.gpu_count, job.hourly_rate) == ("NVIDIA H100 80GB HBM3", 2, 0.4)
    assert estimate_cost(ws.settings, gpu_type=job.gpu_type, gpu_count=2, hours=3) == pytest.approx(2.4)
    with pytest.raises(
        InvalidRequestError, match="this machine has 2 NVIDIA H100 80GB HBM3; a local job cannot use 4"
    ):
        create_job(ws, dataset_id=job.dataset_id, gpu_type="H100", gpu_count=4)
    with pytest.raises(InvalidRequestError, match=r"offers cpu, NVIDIA H100 80GB HBM3 \(×2\)"):
        create_job(ws, dataset_id=job.dataset_id, gpu_type="A10G")


def test_local_rate_is_a_setting_with_variable_and_file(tmp_path):
    home = tmp_path / "home"
    assert load_settings({"home": str(home)}, environ={}).local_rate == 0.0
    assert load_settings({"home": str(home)}, environ={"LORADESK_LOCAL_RATE": "0.25"}).local_rate == 0.25
    assert load_settings({"home": str(home), "local_rate": "1.5"}, environ={}).local_rate == 1.5
