"""Batch normalisation folded into the layer before it (ctgans.models.folding)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ctgans.models import Generator
from ctgans.models.folding import ChannelBias, fold_batch_norm

LATENT = 8


def _generator(upsampling="upsample", normalization="batch", **kwargs):
    generator = Generator(
        (13, 13, 1),
        2,
        latent_dim=LATENT,
        base_filters=32,
        upsampling=upsampling,
        normalization=normalization,
        **kwargs,
    )
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, LATENT)).astype(np.float32)
    labels = rng.standard_normal((5, 2)).astype(np.float32)
    generator((z, labels))
    # Statistics and affine weights far from the identity, as after training.
    for layer in generator._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 2.0, n))
            layer.moving_variance.assign(rng.uniform(0.05, 5.0, n))
            layer.gamma.assign(rng.uniform(0.2, 3.0, n))
            layer.beta.assign(rng.normal(0.0, 1.0, n))
    return generator, z, labels


@pytest.mark.parametrize("upsampling", ["upsample", "transpose"])
@pytest.mark.parametrize("label_film", [False, True])
def test_folded_generator_samples_the_same_images(upsampling, label_film):
    generator, z, labels = _generator(upsampling, label_film=label_film)
    if label_film:  # FiLM after each normalisation: found by its layer's name
        for dense in generator.film_layers:
            kernel, bias = dense.get_weights()
            dense.set_weights([np.full_like(kernel, 0.1), bias + 0.05])
    before = np.asarray(generator((z, labels), training=False))
    n_norms = 1 + 2 * generator.n_blocks
    assert fold_batch_norm(generator) == n_norms
    layers = [generator.project_norm, *generator.body]
    assert not any(isinstance(la, keras.layers.BatchNormalization) for la in layers)
    assert sum(isinstance(la, ChannelBias) for la in layers) == n_norms
    assert not generator.trainable
    after = np.asarray(generator((z, labels), training=False))
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)


def test_nothing_is_folded_without_batch_normalisation():
    generator, z, labels = _generator(normalization="layer")
    before = np.asarray(generator((z, labels), training=False))
    assert fold_batch_norm(generator) == 0
    assert generator.trainable
    np.testing.assert_array_equal(
        np.asarray(generator((z, labels), training=False)), before
    )


def test_a_layer_with_a_bias_is_not_folded_into():
    norm = keras.layers.BatchNormalization()
    dense = keras.layers.Dense(4, use_bias=True)
    norm(dense(np.zeros((2, 3), np.float32)))
    generator = type(
        "Plain", (), {"normalization": "batch", "project": dense, "project_norm": norm}
    )()
    generator.body = []
    with pytest.raises(ValueError, match="without a bias"):
        fold_batch_norm(generator)
