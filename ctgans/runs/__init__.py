"""The run folder: one owner for its layout, its files and reading it back.

:mod:`~ctgans.runs.layout` names every file and folder of a run folder (checkpoint
folders included) and writes atomically; :mod:`~ctgans.runs.folder` creates and
claims run folders (``config.yml``, ``run.json``, ``versions.json``) and decides
what resumes, by the config hash of :mod:`~ctgans.runs.settings` (which also
resolves the config that ``config.yml`` holds); :mod:`~ctgans.runs.lock` keeps
one training process per folder; :mod:`~ctgans.runs.files` writes
``dataset.json``, ``camera_model.json``, ``critic.json``, ``generator.keras`` and
``label_recovery.json`` and reads the run back for generation and evaluation, the
config through the validating loader; :mod:`~ctgans.runs.samples` draws the sample
grids. Training writes through this package; generation and evaluation read
through it, never by hand.
"""
