"""The auxiliary label predictor: CTLearn's own ResNet, trained on real images.

The predictor is trained, and used in the generator loss, on the *standardised*
label matrix that the data pipeline yields (``(x - mean) / std`` per column; the
particle class stays 0/1). Its ``energy`` output therefore estimates standardised
``log_true_energy``, not ``log_true_energy`` itself as in CTLearn; the convention is
the same everywhere in ctgans, and :class:`ctgans.data.LabelScaler` undoes it.
"""

from __future__ import annotations

import keras
import traitlets.config

from ctgans.choices import RESIDUAL_BLOCKS
from ctgans.config_types import CONDITION_LABELS, LABEL_COLUMNS

#: CTLearn task -> label matrix columns (the condition labels are no task).
TASK_COLUMNS = {k: v for k, v in LABEL_COLUMNS.items() if k not in CONDITION_LABELS}
#: Label matrix columns that condition the networks but no task predicts.
CONDITION_COLUMNS = tuple(c for k in CONDITION_LABELS for c in LABEL_COLUMNS[k])
TASK_UNITS = {"type": 2, "energy": 1, "cameradirection": 2, "skydirection": 2}
SE_REDUCTION = 16  # CTLearn's default attention_reduction_ratio


def label_slices(label_columns) -> dict[str, slice]:
    """CTLearn task -> the columns of the ``(B, L)`` label matrix that hold it.

    Parameters
    ----------
    label_columns : sequence of str
        The label matrix columns, in order, e.g.
        ``("log_true_energy", "cam_coord_offset_x", "cam_coord_offset_y")``.

    Returns
    -------
    dict of str to slice
        E.g. ``{"energy": slice(0, 1), "cameradirection": slice(1, 3)}``, in column
        order. A task's columns must be adjacent and complete; condition columns
        (``true_impact_distance``) belong to no task and are skipped.
    """
    columns = tuple(label_columns)
    owner = {col: task for task, cols in TASK_COLUMNS.items() for col in cols}
    slices = {}
    i = 0
    while i < len(columns):
        if columns[i] in CONDITION_COLUMNS:
            i += 1
            continue
        task = owner.get(columns[i])
        expected = TASK_COLUMNS.get(task)
        if task is None or task in slices or columns[i : i + len(expected)] != expected:
            raise ValueError(
                f"label columns must be whole CTLearn tasks {TASK_COLUMNS}, each "
                f"once, columns adjacent and in that order; received {columns!r}"
            )
        slices[task] = slice(i, i + len(expected))
        i += len(expected)
    return slices


def build_predictor(
    input_shape,
    tasks,
    architecture=((16, 2), (32, 2), (64, 2)),
    residual_block_type: str = "basic",
    attention_mechanism: str | None = "Dual-SE",
    name: str = "predictor",
) -> keras.Model:
    """CTLearn's ResNet (``ctlearn.core.model.ResNet``), always returning a dict.

    Parameters
    ----------
    input_shape : tuple of int
        ``(H, W, C)`` of one telescope image.
    tasks : sequence of str
        CTLearn tasks among ``type``, ``energy``, ``cameradirection``,
        ``skydirection``.
    architecture : sequence of (int, int)
        ``(filters, residual blocks)`` per stage.
    residual_block_type : {"basic", "bottleneck"}
        CTLearn's residual block.
    attention_mechanism : {"Dual-SE", "Channel-SE", "Spatial-SE"} or None
        CTLearn's squeeze-and-excitation attention (CTLearn's default: Dual-SE).
    name : str
        Name of the returned model.

    Returns
    -------
    keras.Model
        Functional model mapping images to ``{task: output}``: ``type`` gives
        2-class softmax probabilities, regression tasks linear values.
    """
    from ctlearn.core.model import CTLearnModel  # slow import, only when needed

    tasks = list(tasks)
    unknown = [t for t in tasks if t not in TASK_COLUMNS]
    if not tasks or unknown or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"predictor tasks must be distinct names among {tuple(TASK_COLUMNS)}; "
            f"received {tasks!r}"
        )
    if residual_block_type not in RESIDUAL_BLOCKS:
        raise ValueError(
            f"`residual_block_type` must be one of {RESIDUAL_BLOCKS}; "
            f"received {residual_block_type!r}"
        )
    smallest = min(int(f) for f, _ in architecture)
    if attention_mechanism in ("Dual-SE", "Channel-SE") and smallest < SE_REDUCTION:
        raise ValueError(
            f"CTLearn's {attention_mechanism} attention divides the filters by "
            f"{SE_REDUCTION}: every stage needs at least {SE_REDUCTION} filters; "
            f"received architecture {architecture!r}"
        )
    config = traitlets.config.Config(
        {
            "ResNet": {
                "architecture": [
                    {"filters": int(f), "blocks": int(b)} for f, b in architecture
                ],
                "residual_block_type": residual_block_type,
                "attention_mechanism": attention_mechanism,
            }
        }
    )
    ctlearn_model = CTLearnModel.from_name(
        "ResNet", input_shape=tuple(input_shape), tasks=tasks, config=config
    ).model
    outputs = ctlearn_model.output
    if not isinstance(outputs, dict):  # CTLearn returns a lone `type` task bare
        outputs = {tasks[0]: outputs}
    return keras.Model(ctlearn_model.input, outputs, name=name)


def compile_predictor(model: keras.Model, tasks, learning_rate: float = 1e-3) -> None:
    """Compile for ``fit(images, {task: target})`` with Adam.

    Regression tasks use the mean squared error on standardised labels; ``type``
    uses sparse categorical cross-entropy on the class (0 or 1) and reports accuracy.
    """
    losses, metrics = {}, {}
    for task in tasks:
        if task == "type":
            losses[task] = keras.losses.SparseCategoricalCrossentropy()
            metrics[task] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        else:
            losses[task] = keras.losses.MeanSquaredError()
            metrics[task] = [keras.metrics.MeanAbsoluteError(name="mae")]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=losses, metrics=metrics
    )


def split_targets(labels, slices: dict[str, slice]) -> dict:
    """The ``(B, L)`` label matrix -> ``{task: target}`` for :func:`compile_predictor`.

    ``type`` targets become the integer class; regression targets keep their columns.
    """
    targets = {}
    for task, columns in slices.items():
        target = labels[:, columns]
        if task == "type":
            target = keras.ops.cast(target[:, 0], "int32")
        targets[task] = target
    return targets
