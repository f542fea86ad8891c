"""Keras models: the generator, the critic, CTLearn's predictor and the WGAN-GP."""

from ctgans.models.critic import Critic
from ctgans.models.gan import ConditionalWGAN, gradient_penalty
from ctgans.models.generator import Generator
from ctgans.models.predictor import (
    build_predictor,
    compile_predictor,
    label_slices,
    split_targets,
)

__all__ = [
    "ConditionalWGAN",
    "Critic",
    "Generator",
    "build_predictor",
    "compile_predictor",
    "gradient_penalty",
    "label_slices",
    "split_targets",
]
