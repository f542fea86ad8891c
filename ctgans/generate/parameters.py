"""Cleaning masks and DL1 image parameters of generated images, by ctapipe.

:class:`ImageResults` runs ctapipe's ``ImageProcessor`` (the camera's cleaning of
:mod:`ctgans.cameras`, then Hillas, leakage, concentration, morphology, timing and
intensity statistics) on one telescope image at a time, in the order the images
are written: ctapipe's timing fit draws from a module-level generator, so the
order is part of the result, as it is when ``ImageProcessor`` runs on each event.
An image without peak times (a generator without a time channel) is parametrised
as ctapipe parametrises any image without times: timing parameters and peak-time
statistics are its defaults (NaN), not a fit to times the generator never made.

With ``parameters=False`` the images are only cleaned, and every image gets
``ImageProcessor``'s default parameters (NaN; -1 for counts): what ctapipe writes
for an image it does not parametrise. The file keeps its data model: the cleaning
mask beside each image and a parameters row per image, which dl1-data-handler
needs to index the images (its default cut ``hillas_intensity > 50`` then selects
nothing: read such files with ``TableQualityQuery.quality_criteria = []``).

:func:`parameter_columns` turns the parameter containers of many images into the
columns of a ctapipe parameters table, converted as ``DataWriter`` converts a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import astropy.units as u
import numpy as np
from ctapipe.containers import (
    ArrayEventContainer,
    DL1CameraContainer,
    ImageParametersContainer,
)
from ctapipe.image import ImageProcessor
from ctapipe.io.tableio import QuantityColumnTransform
from traitlets.config import Config

from ctgans.exceptions import DataError

__all__ = ["ImageResults", "parameter_columns"]


class ImageResults:
    """Cleaning mask and image parameters of one telescope image at a time.

    Parameters
    ----------
    subarray : ctapipe.instrument.SubarrayDescription
        The telescopes of the file.
    config : traitlets.config.Config
        ``ImageProcessor`` configuration (:func:`ctgans.cameras.processor_config`).
    parameters : bool
        Compute the image parameters; False: clean only, default parameters.
    """

    def __init__(self, subarray, config: Config, parameters: bool = True):
        self.processor = ImageProcessor(subarray, config=config)
        self.parameters = parameters
        # One event, reused: ImageProcessor reads only the telescope's DL1
        # image and its (default) camera monitoring from it.
        self._event = ArrayEventContainer()

    def __call__(
        self, tel_id: int, image: np.ndarray, peak_time: np.ndarray | None
    ) -> tuple[np.ndarray, ImageParametersContainer]:
        """``(image_mask, parameters)`` of one image of telescope ``tel_id``;
        ``peak_time`` None (an image without times): no timing parameters."""
        monitoring = self._event.monitoring.tel[tel_id].camera
        if not self.parameters:
            mask = self.processor.clean(
                tel_id=tel_id,
                image=image,
                arrival_times=peak_time,
                monitoring=monitoring,
            )
            return mask, self.processor.default_image_container
        dl1 = DL1CameraContainer(image=image, peak_time=peak_time)
        self._event.dl1.tel.clear()
        self._event.dl1.tel[tel_id] = dl1
        self.processor(self._event)
        return dl1.image_mask, dl1.parameters


def parameter_columns(
    parameters: Sequence[ImageParametersContainer],
    names: Iterable[str],
    transforms: dict,
) -> dict[str, np.ndarray]:
    """The parameter columns of a ctapipe parameters table, one row per container.

    Parameters
    ----------
    parameters : sequence of ImageParametersContainer
        One per image, in row order.
    names : iterable of str
        The table's columns: those of them that the containers hold are returned.
    transforms : dict
        Column name -> ctapipe column transform of the table
        (``ctapipe.io.hdf5tableio.get_column_transforms``): quantities are
        returned in the table's units.

    Raises
    ------
    DataError
        If a column has a transform other than a unit conversion.
    """
    names = set(names)
    # Images left unparametrised share ctapipe's default container: each
    # distinct container is converted once.
    distinct: dict[int, int] = {}
    order = np.array(
        [distinct.setdefault(id(image), len(distinct)) for image in parameters]
    )
    kept = list({id(image): image for image in parameters}.values())
    fields: dict[tuple, list[tuple[str, str]]] = {}
    values: dict[str, list] = {}
    for image in kept:
        # The columns DataWriter writes: each container's fields with its prefix.
        for container in image.values():
            key = (type(container), container.prefix)
            if key not in fields:
                columns = (name for name, _ in container.items(add_prefix=True))
                fields[key] = [
                    (field, name)
                    for field, name in zip(container.keys(), columns)
                    if name in names
                ]
            for field, name in fields[key]:
                values.setdefault(name, []).append(getattr(container, field))
    return {
        name: _converted(name, column, transforms.get(name))[order]
        for name, column in values.items()
    }


def _converted(name: str, values: list, transform) -> np.ndarray:
    """``values`` as ``DataWriter`` writes them: quantities in the column's unit."""
    if transform is None:
        return np.asarray(values)
    if not isinstance(transform, QuantityColumnTransform):
        raise DataError(
            f"parameter column {name}: expected a number or quantity column; "
            f"received a {type(transform).__name__} column"
        )
    unit = u.Unit(transform.unit)
    if all(
        isinstance(v, u.Quantity) and (v.unit is unit or v.unit == unit) for v in values
    ):
        return np.array([v.value for v in values])  # to_value(unit) changes nothing
    return np.array([transform(v) for v in values])
