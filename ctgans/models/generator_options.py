"""The generator's option checks: which settings need which others.

One place for every combination the :class:`~ctgans.models.generator.Generator`
refuses, each error naming the option, what it needs and what it received.
"""

from __future__ import annotations

from ctgans.choices import NORMALIZATION, UPSAMPLING, WINDOW_CHANNELS


def _needs(option: str, given, requirement: str, present: bool) -> None:
    if given and not present:
        raise ValueError(f"Generator: `{option}` needs `{requirement}`")


def check_generator_options(
    *,
    image_shape: tuple[int, ...],
    n_labels: int,
    latent_dim: int,
    upsampling: str,
    normalization: str,
    channel_activations,
    camera,
    source_frame,
    label_film: bool,
    canvas_scale: int,
    shower_envelope: bool,
    envelope_distance,
    envelope_length,
    shower_intensity,
    envelope_at: str = "canvas",
    shower_containment=None,
    window_coordinates: bool = False,
    window_channels: tuple[str, ...] = WINDOW_CHANNELS,
) -> tuple[str, ...]:
    """Raise ``ValueError`` on a combination the generator cannot draw; return
    one activation per channel (``tanh`` each when ``channel_activations`` is
    None)."""
    if label_film and not n_labels:
        raise ValueError("Generator: `label_film` needs labels; received n_labels 0")
    if canvas_scale not in (1, 2):
        raise ValueError(
            f"Generator: `canvas_scale` must be 1 or 2; received {canvas_scale!r}"
        )
    if canvas_scale != 1 and source_frame is None:
        raise ValueError("Generator: `canvas_scale` 2 needs `source_frame`")
    _needs("shower_envelope", shower_envelope, "source_frame", source_frame is not None)
    _needs("window_coordinates", window_coordinates, "shower_envelope", shower_envelope)
    if not window_channels or not set(window_channels) <= set(WINDOW_CHANNELS):
        raise ValueError(
            f"Generator: `window_channels` must be a non-empty subset of "
            f"{WINDOW_CHANNELS}; received {window_channels!r}"
        )
    _needs(
        "envelope_distance",
        envelope_distance is not None,
        "shower_envelope",
        shower_envelope,
    )
    _needs(
        "envelope_length",
        envelope_length is not None,
        "shower_envelope",
        shower_envelope,
    )
    for option, value, column in (
        ("envelope_distance", envelope_distance, 2),
        ("shower_intensity", shower_intensity, 3),
    ):
        if value is not None and latent_dim < column + 1:
            raise ValueError(
                f"Generator: `{option}` draws with z[:, {column}]; expected "
                f"latent_dim >= {column + 1}, received {latent_dim}"
            )
    _needs(
        "shower_intensity", shower_intensity is not None, "camera", camera is not None
    )
    _needs("source_frame", source_frame is not None, "camera", camera is not None)
    on_pixels = bool((camera or {}).get("render_points", 0))
    if envelope_at not in ("canvas", "pixels"):
        raise ValueError(
            "Generator: `envelope_at` must be 'canvas' or 'pixels'; received "
            f"{envelope_at!r}"
        )
    _needs("envelope_at", envelope_at == "pixels", "shower_envelope", shower_envelope)
    _needs(
        "envelope_at",
        envelope_at == "pixels",
        "source_frame iso_scale",
        "iso_scale" in (source_frame or {}),
    )
    _needs(
        "shower_containment",
        shower_containment is not None,
        "envelope_distance",
        envelope_distance is not None,
    )
    _needs(
        "shower_containment",
        shower_containment is not None,
        "source_frame iso_scale",
        "iso_scale" in (source_frame or {}),
    )
    if on_pixels != ("iso_scale" in (source_frame or {})):
        raise ValueError(
            "Generator: rendering on camera pixels needs both `camera` "
            "render_points > 0 and `source_frame` iso_scale; received render_points "
            f"{(camera or {}).get('render_points', 0)} and iso_scale "
            f"{(source_frame or {}).get('iso_scale')}"
        )
    if upsampling not in UPSAMPLING:
        raise ValueError(
            f"Generator: `upsampling` must be one of {UPSAMPLING}; "
            f"received {upsampling!r}"
        )
    if normalization not in NORMALIZATION:
        raise ValueError(
            f"Generator: `normalization` must be one of {NORMALIZATION}; "
            f"received {normalization!r}"
        )
    channels = image_shape[-1]
    if camera is not None and (len(image_shape) != 3 or channels != 1):
        raise ValueError(
            "Generator: `camera` needs mono images with one charge channel "
            f"(H, W, 1); received image_shape {image_shape}"
        )
    if channel_activations is None:
        channel_activations = ("tanh",) * channels
    channel_activations = tuple(channel_activations)
    if len(channel_activations) != channels:
        raise ValueError(
            f"Generator: `channel_activations` needs one activation per channel "
            f"({channels}); received {channel_activations!r}"
        )
    return channel_activations
