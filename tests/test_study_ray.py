"""The Ray executor on a local cluster gives the local executor's results."""

import os
from pathlib import Path

import pytest
import torch

from alseg.errors import DataError
from alseg.study.config import expand
from alseg.study.executors import LocalExecutor, RayExecutor
from alseg.study.runner import run_study
from alseg.study.store import Store
from tests.study_helpers import blob_setup, register_blobs, tiny_study, without_timings

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="the ray executor needs ray (pip install 'alseg[ray]')")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_cluster():
    # workers import the setup factories from this test package and alseg from this checkout
    paths = [str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


def test_ray_and_local_executors_agree(tmp_path, local_cluster):
    register_blobs()
    torch.set_num_threads(1)
    study = tiny_study(include_full_reference=False)  # two runs sharing cycle 0
    executor = RayExecutor(cpus_per_run=1, poll_seconds=0.2)
    outcome = run_study(study, tmp_path / "ray", executor, "cpu", setup_factory=blob_setup)
    assert outcome.failures == [] and outcome.executed == 2
    assert ray.is_initialized()  # a cluster it did not start is left running
    run_study(study, tmp_path / "local", LocalExecutor(threads=1), "cpu", setup_factory=blob_setup)
    by_ray, by_local = Store(tmp_path / "ray"), Store(tmp_path / "local")
    for config in expand(study):
        rows = by_ray.cycles(config.key())
        assert len(rows) == 3
        assert without_timings(rows) == without_timings(by_local.cycles(config.key()))
    assert set(by_ray.statuses().values()) == {"done"}


def test_ray_task_errors_are_recorded(tmp_path, local_cluster):
    register_blobs()
    study = tiny_study(include_full_reference=False)
    outcome = run_study(
        study, tmp_path, RayExecutor(poll_seconds=0.2), "cpu", setup_factory=failing_setup
    )
    assert len(outcome.failures) == 2
    assert all("no blobs here" in failure.error for failure in outcome.failures)
    assert set(Store(tmp_path).statuses().values()) == {"failed"}
    with pytest.raises(DataError, match="data root /nowhere"):  # user errors stop the study
        run_study(study, tmp_path / "b", RayExecutor(), "cpu", setup_factory=missing_data)


def failing_setup(config, device):
    raise RuntimeError("no blobs here")


def missing_data(config, device):
    raise DataError("data root /nowhere not found")
