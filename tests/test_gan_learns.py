"""The WGAN-GP losses point the right way: on a 2-D problem the generator moves
to the data.

The other train_step tests check that weights change; a flipped sign in the
critic loss or in the generator's adversarial loss changes them too. Here the
real :class:`ConditionalWGAN` train_step runs with a linear critic and a
generator that is a learned offset plus a fixed noise map, on 2-D points
("images" of shape (1, 1, 2)) centred far from the generator's start: within
50 steps the generated mean must cover most of the way to the data's; with
either sign flipped it ends twice as far away as it started (checked).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ctgans.models import ConditionalWGAN

SHAPE = (1, 1, 2)
LATENT = 2
DATA_MEAN = np.array([3.0, -2.0], "float32")
STEPS = 50
CRITIC_STEPS = 5
GENERATOR_RATE = 0.05


class OffsetGenerator(keras.Model):
    """``offset + 0.1 z``: the generated mean is ``offset``, trained from 0."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = SHAPE
        self.offset = self.add_weight(shape=(2,), initializer="zeros", name="offset")

    def build(self, input_shape):
        pass

    def call(self, inputs, training=None):
        z, _ = inputs
        return ops.reshape(self.offset + 0.1 * z, (-1, *SHAPE))


class LinearCritic(keras.Model):
    """``w . x + b``: the WGAN-GP optimum has ``w`` of unit norm, fake -> real."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.score = keras.layers.Dense(1, kernel_initializer="zeros")

    def build(self, input_shape):
        self.score.build((None, 2))

    def call(self, inputs, training=None):
        images, _ = inputs
        return self.score(ops.reshape(images, (-1, 2)))


def _generated_mean_after_training():
    keras.utils.set_random_seed(0)
    generator, critic = OffsetGenerator(), LinearCritic()
    critic.build(((None, *SHAPE), (None, 1)))
    gan = ConditionalWGAN(
        generator, critic, None, latent_dim=LATENT, label_columns=("x",), seed=3
    )
    gan.compile(
        keras.optimizers.Adam(GENERATOR_RATE, beta_1=0.5),
        keras.optimizers.Adam(0.1, beta_1=0.5),
        critic_steps=CRITIC_STEPS,
    )
    rng = np.random.default_rng(0)
    points = DATA_MEAN + 0.3 * rng.normal(size=(CRITIC_STEPS * 32, 2)).astype("float32")
    images = points.reshape(-1, *SHAPE)
    labels = np.zeros((len(points), 1), "float32")
    batch = tf.data.Dataset.from_tensors((images, labels)).repeat(STEPS)
    gan.fit(batch, epochs=1, verbose=0, shuffle=False)
    return ops.convert_to_numpy(generator.offset)


def test_the_generated_mean_moves_to_the_data_mean():
    start = np.linalg.norm(DATA_MEAN)  # the generator starts at 0
    end = np.linalg.norm(_generated_mean_after_training() - DATA_MEAN)
    # A flipped critic or generator sign ends farther away than it started.
    assert end < 0.4 * start, (end, start)
