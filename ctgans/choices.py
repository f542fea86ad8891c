"""Choice lists shared by the config loader and the models (defined once)."""

#: ``loss.label_loss``: the predictor's loss on the generated image itself
#: (``absolute``), or only its excess over the loss on the real image with the same
#: labels (``excess``: the generator is not asked for more than simulation gives).
LABEL_LOSSES = ("absolute", "excess")

#: ``model.precision``: the compute dtype of the generator's and critic's dense,
#: convolution and normalisation layers (variables stay float32; ``bfloat16`` is
#: Keras' ``mixed_bfloat16`` policy on those layers only).
PRECISIONS = ("float32", "bfloat16")
