"""DL1 files -> cached, normalised square images and labels -> tf.data."""

from ctgans.data.cache import CachedDataset
from ctgans.data.normalize import ImageNormalization, LabelScaler
from ctgans.data.prepare import prepare_dataset

__all__ = ["CachedDataset", "ImageNormalization", "LabelScaler", "prepare_dataset"]
