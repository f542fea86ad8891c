"""ctgans: conditional GANs that generate labeled IACT camera images for CTLearn."""

__version__ = "0.1.0"
