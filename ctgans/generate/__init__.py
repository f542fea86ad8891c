"""Generate labeled camera images with a trained run and write a ctapipe DL1 file.

``python -m ctgans.generate RUN_FOLDER --output FILE.dl1.h5 ...``: see
:mod:`ctgans.generate.__main__` for the command line and :func:`generate` for the
steps.
"""

from ctgans.generate.run import GenerateRequest, GenerateStats, generate

__all__ = ["GenerateRequest", "GenerateStats", "generate"]
