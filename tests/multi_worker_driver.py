"""Test helper: ``python -m ctgans.train`` that also dumps the trained weights.

``python tests/multi_worker_driver.py CONFIG`` runs the real command line; before
the label-recovery step at the end of ``run()`` it writes the generator and critic
weights and the step count of this worker to the file named by
``CTGANS_TEST_DUMP``, so that a test can compare workers.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def main() -> int:
    import ctgans.train.run as run_module
    from ctgans.train.__main__ import main as train_main

    original = run_module.label_recovery

    def label_recovery(gan, predictor, dataset, seed):
        weights = [*gan.generator.weights, *gan.critic.weights]
        arrays = {f"w{i}": np.asarray(w.numpy()) for i, w in enumerate(weights)}
        arrays["iterations"] = np.asarray(gan.generator_optimizer.iterations.numpy())
        np.savez(os.environ["CTGANS_TEST_DUMP"], **arrays)
        return original(gan, predictor, dataset, seed)

    run_module.label_recovery = label_recovery
    return train_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
