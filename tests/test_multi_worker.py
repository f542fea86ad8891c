"""Multi-worker training: two worker processes on 127.0.0.1 train one GAN.

Each worker runs the real command line (through ``multi_worker_driver.py``, which
only adds a dump of the final weights) with ``train.strategy: multi_worker`` and its
own ``TF_CONFIG``. The workers must end with identical weights, only the chief may
write the run folder, and a run whose worker was killed must resume from the
chief's checkpoint when both workers are started again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_crash_safety import complete_checkpoints, history_epochs, smoke_config

from ctgans.config import load_config
from ctgans.data import prepare_dataset

DRIVER = Path(__file__).with_name("multi_worker_driver.py")
TIMEOUT_S = 420


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Workers:
    """Two worker processes of one cluster; killed on exit, whatever happened."""

    def __init__(self, config: Path, tag: str):
        self.config, self.tag, self.processes = config, tag, []
        self.folder = config.parent
        ports = free_ports(2)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        for index in range(2):
            tmp = self.folder / f"tmp-{tag}-{index}"  # the worker's TMPDIR
            tmp.mkdir()
            env = dict(
                os.environ,
                TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
                CTGANS_TEST_DUMP=str(self.dump(index)),
                TMPDIR=str(tmp),
                TF_CPP_MIN_LOG_LEVEL="2",
                MPLBACKEND="Agg",
            )
            with self.log(index).open("w") as handle:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, str(DRIVER), config.name],
                        cwd=self.folder,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )

    def log(self, index: int) -> Path:
        return self.folder / f"worker-{self.tag}-{index}.log"

    def dump(self, index: int) -> Path:
        return self.folder / f"weights-{self.tag}-{index}.npz"

    def tail(self) -> str:
        return "\n".join(
            f"--- worker {i}\n{self.log(i).read_text()[-2500:]}" for i in range(2)
        )

    def wait(self, timeout: float = TIMEOUT_S) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [p.poll() for p in self.processes]
            if all(code is not None for code in codes):
                return codes
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"workers still running after {timeout} s\n{self.tail()}")

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def wait_until(condition, workers: Workers, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or any(
            p.poll() is not None for p in workers.processes
        ):
            workers.kill()
            pytest.fail(f"condition not reached\n{workers.tail()}")
        time.sleep(0.05)


def assert_same_weights(workers: Workers) -> int:
    """Both workers hold identical weights; returns their step count."""
    with np.load(workers.dump(0)) as a, np.load(workers.dump(1)) as b:
        assert sorted(a.files) == sorted(b.files) and len(a.files) > 10
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        return int(a["iterations"])


@pytest.fixture(scope="module")
def shared(tmp_path_factory, toy_pair) -> dict:
    """A cache and predictor folder that both tests reuse (built by the first)."""
    root = tmp_path_factory.mktemp("mw_shared")
    return {"cache": root / "cache", "pred": root / "pred", "toy": toy_pair}


def mw_config(tmp_path: Path, shared: dict, epochs: int) -> Path:
    path = smoke_config(
        tmp_path,
        shared["toy"],
        epochs=epochs,
        strategy="multi_worker",
        checkpoint_every=1,
    )
    text = path.read_text()
    for old, new in (("cache", "cache_dir"), ("pred", "directory")):
        text = text.replace(f"{new}: {tmp_path / old}", f"{new}: {shared[old]}")
    path.write_text(text)
    return path


def steps_per_epoch(config: Path) -> int:
    """Global batches per epoch (the dataset is cached by then)."""
    cfg = load_config(config)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    n_train = int((~dataset.is_validation).sum())
    return n_train // (cfg.train.batch_size * cfg.loss.critic_steps)


@pytest.mark.slow
def test_two_workers_hold_the_same_weights(tmp_path, shared):
    config = mw_config(tmp_path, shared, epochs=2)
    with Workers(config, "a") as workers:
        codes = workers.wait()
    assert codes == [0, 0], workers.tail()
    steps = assert_same_weights(workers)
    # the global batch is split across the workers, not repeated on each
    assert steps == 2 * steps_per_epoch(config)
    assert "2 replica(s)" in workers.log(0).read_text()
    # only the chief wrote: one run folder, the worker's temporary folder is gone
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["smoke-001"]
    run = tmp_path / "runs" / "smoke-001"
    assert sorted(complete_checkpoints(run)) == [1, 2]
    assert history_epochs(run) == [0, 1]
    assert (run / "generator.keras").is_file()
    assert list((tmp_path / "tmp-a-1").iterdir()) == []
    assert "non-chief worker" in workers.log(1).read_text()


@pytest.mark.slow
def test_killed_worker_resumes_from_the_chief_checkpoint(tmp_path, shared):
    config = mw_config(tmp_path, shared, epochs=3)
    run = tmp_path / "runs" / "smoke-001"
    with Workers(config, "b") as workers:
        wait_until(lambda: 1 in complete_checkpoints(run), workers)
        workers.processes[1].send_signal(signal.SIGKILL)  # a node dies
        workers.processes[1].wait()
        # the chief cannot go on alone: it blocks in the next collective (or
        # fails); a cluster scheduler restarts the whole job, as here
        time.sleep(2.0)
        assert workers.processes[0].poll() != 0  # not finished alone
        workers.kill()
    assert max(complete_checkpoints(run)) < 3
    with Workers(config, "c") as again:
        codes = again.wait()
    assert codes == [0, 0], again.tail()
    chief_log, worker_log = (again.log(i).read_text() for i in range(2))
    resumed = int(re.search(r"resumed from \S+ \(epoch (\d+)\)", chief_log).group(1))
    assert resumed >= 1
    assert re.search(rf"chief's run folder \S*smoke-001, epoch {resumed}\n", worker_log)
    steps = assert_same_weights(again)
    assert steps == 3 * steps_per_epoch(config)  # the restored step count goes on
    assert history_epochs(run) == [0, 1, 2]
    assert sorted(complete_checkpoints(run)) == [1, 2, 3]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["smoke-001"]


@pytest.mark.parametrize(
    "tf_config",
    [
        "{not json",
        '{"cluster": {"worker": ["127.0.0.1:1"]}}',
        '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", '
        '"index": 1}}',
    ],
)
def test_bad_tf_config_is_one_error_naming_it(monkeypatch, tf_config):
    from ctgans.exceptions import CtgansInputError
    from ctgans.train.run import make_strategy

    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(CtgansInputError, match="^TF_CONFIG: expected JSON .*received"):
        make_strategy("multi_worker")
