"""One training process per run folder: ``train.lock`` (:mod:`ctgans.runs.lock`).

Fast tests lock folders directly (a second holder is refused, a lock left by a dead
process is taken over, a released lock leaves no file); the slow test starts two
``python -m ctgans.train`` on one config at the same moment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from smoke_configs import smoke_config_with

from ctgans.exceptions import ConfigError
from ctgans.runs import lock as run_lock
from ctgans.runs.lock import LOCK_NAME, acquire, check_free

HOLD = (
    "import fcntl, sys, time\n"
    "f = open(sys.argv[1], 'a')\n"
    "fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_lock_names_its_holder_and_is_removed_on_release(tmp_path, monkeypatch):
    monkeypatch.setattr(run_lock, "RETRY_S", 0.1)
    lock = acquire(tmp_path)
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid()
    with pytest.raises(ConfigError, match=f"being trained by process {os.getpid()} "):
        acquire(tmp_path)  # another open file: refused, even in this process
    with pytest.raises(ConfigError, match="pass --fresh to start a new run folder$"):
        check_free(tmp_path)
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    check_free(tmp_path)
    acquire(tmp_path).release()


def test_lock_held_by_another_process_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(run_lock, "RETRY_S", 0.1)
    path = tmp_path / LOCK_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        before = path.read_bytes()
        with pytest.raises(ConfigError, match="being trained by another process"):
            check_free(tmp_path)
        with pytest.raises(ConfigError, match="being trained by another process"):
            acquire(tmp_path)
        assert path.read_bytes() == before  # refusing writes nothing
    finally:
        holder.kill()
        holder.wait()
    acquire(tmp_path).release()  # its process is gone: the lock is free


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    pid = _dead_pid()
    stale = {"pid": pid, "host": "here", "started": "2026-11-25T10:00:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    check_free(tmp_path)  # not refused
    with caplog.at_level(logging.WARNING, logger="ctgans.runs.lock"):
        lock = acquire(tmp_path)
    assert f"took over the stale lock of process {pid} on here" in caplog.text
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_without_flock_a_dead_pid_is_stale_and_a_live_one_holds(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(run_lock, "RETRY_S", 0.1)
    monkeypatch.setattr(run_lock, "_try_lock", lambda fd, kind: None)
    path = tmp_path / LOCK_NAME
    here = socket.gethostname()
    path.write_text(json.dumps({"pid": _dead_pid(), "host": here}))
    acquire(tmp_path).release()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(json.dumps({"pid": live.pid, "host": here}))
        with pytest.raises(ConfigError, match=f"process {live.pid} on host {here}"):
            acquire(tmp_path)
    finally:
        live.kill()
        live.wait()


def test_claimed_new_run_folder_is_locked_until_released(tmp_path, toy_pair):
    from ctgans.config import load_config
    from ctgans.runs.folder import claim_run_folder, open_run_folder

    cfg = load_config(smoke_config_with(tmp_path, toy_pair))
    folder, resumed, lock = claim_run_folder(cfg, fresh=False)
    assert (folder.name, resumed) == ("smoke-001", False)
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not [p for p in cfg.train.run_dir.iterdir() if p.name.startswith(".")]
    run_lock.RETRY_S, saved = 0.1, run_lock.RETRY_S
    try:
        with pytest.raises(ConfigError, match=f"run folder {folder} is being trained"):
            open_run_folder(cfg, fresh=False)
        # --fresh starts its own folder
        other, resumed, other_lock = claim_run_folder(cfg, fresh=True)
        assert (other.name, resumed) == ("smoke-002", False)
        other_lock.release()
    finally:
        run_lock.RETRY_S = saved
    lock.release()
    assert not (folder / LOCK_NAME).exists()


def _train(config, log):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "ctgans.train", config.name],
        cwd=config.parent,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
    )


@pytest.mark.slow
def test_two_trainings_of_one_config_started_together(tmp_path, toy_pair):
    config = smoke_config_with(tmp_path, toy_pair, epochs=4, strategy="default")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = [_train(config, log) for log in logs]
    status = [p.wait(timeout=600) for p in processes]
    texts = [log.read_text() for log in logs]
    assert sorted(status) == [0, 2], texts
    winner, loser = (0, 1) if status[0] == 0 else (1, 0)
    errors = [line for line in texts[loser].splitlines() if line.startswith("error")]
    assert len(errors) == 1, texts[loser]
    assert re.fullmatch(
        rf"error: run folder \S*runs/smoke-001 is being trained by process "
        rf"{processes[winner].pid} on host .*; wait for it to end, or pass --fresh "
        r"to start a new run folder",
        errors[0],
    ), errors[0]
    runs = tmp_path / "runs"
    assert [p.name for p in runs.iterdir()] == ["smoke-001"]  # no temporaries
    run = runs / "smoke-001"
    assert (run / "generator.keras").is_file()
    assert not (run / LOCK_NAME).exists()
    # The same command again resumes the finished run.
    again = _train(config, tmp_path / "c.log")
    assert again.wait(timeout=600) == 0, (tmp_path / "c.log").read_text()[-3000:]
    assert "run already trained for 4 epochs" in (tmp_path / "c.log").read_text()
