"""SIGTERM: one line and exit 143; training stops at a step boundary and resumes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from smoke_configs import smoke_config_with
from test_crash_safety import complete_checkpoints, history_epochs, start, wait_for

PROJECT = Path(__file__).resolve().parents[1]


def test_sigterm_ends_any_command_with_one_line_and_143(tmp_path):
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from ctgans.cli import run_main

        def body():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
            finally:
                print("cleaned up")
            return 0

        sys.exit(run_main(body))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 143, (done.returncode, done.stderr)
    assert done.stdout.strip() == "cleaned up"  # finally blocks ran
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("terminated by SIGTERM"), lines
    assert "run the same command again" in lines[0]


def test_sigterm_during_training_waits_for_the_step_boundary(tmp_path):
    from ctgans import preemption
    from ctgans.train.callbacks import CheckpointEvery

    callback = CheckpointEvery(tmp_path, gan=None, every=1, last_epoch=3)
    callback.set_params({"steps": 10, "epochs": 3})
    with preemption.handle_sigterm():
        callback.on_train_begin()
        callback.on_epoch_begin(0)
        os.kill(os.getpid(), signal.SIGTERM)  # only sets the flag while training
        time.sleep(0.1)
        assert preemption.requested()
        with pytest.raises(preemption.Terminated) as stop:
            callback.on_train_batch_end(4)
    assert str(stop.value) == (
        "stopped by SIGTERM in epoch 1 after step 5 of 10; no checkpoint yet (the "
        "run starts again from epoch 1); run the same command to resume"
    )
    assert not preemption.requested()


@pytest.mark.slow
def test_sigterm_stops_training_keeps_the_checkpoint_and_the_command_resumes(
    tmp_path, toy_pair
):
    config = smoke_config_with(
        tmp_path,
        toy_pair,
        epochs=6,
        checkpoint_every=1,
        sample_every=1,
        strategy="default",
    )
    log = tmp_path / "train.log"
    process = start(config, log)
    run = tmp_path / "runs" / "smoke-001"
    first = run / "checkpoints" / "epoch-0001" / "state.json"
    assert wait_for(process, first.is_file), log.read_text()[-3000:]
    time.sleep(0.5)  # into epoch 2
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143, log.read_text()[-3000:]
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM "), last
    assert last.endswith("; run the same command to resume"), last
    checkpoints = complete_checkpoints(run)
    latest = max(checkpoints)
    assert 1 <= latest < 6
    assert f"last complete checkpoint {run / 'checkpoints'}/epoch-{latest:04d}" in last
    assert history_epochs(run) == list(range(latest))  # no partial epoch
    assert not (run / "generator.keras").exists()
    assert not list((run / "checkpoints").glob(".tmp-*"))

    again = start(config, tmp_path / "resume.log")
    assert again.wait(timeout=600) == 0, (tmp_path / "resume.log").read_text()[-3000:]
    resumed = re.search(
        r"resumed from \S+ \(epoch (\d+)\)", (tmp_path / "resume.log").read_text()
    )
    assert resumed and int(resumed.group(1)) == latest
    assert history_epochs(run) == list(range(6))
    assert (run / "generator.keras").is_file()
