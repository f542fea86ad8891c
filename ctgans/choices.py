"""Choice lists shared by the config loader and the models (defined once)."""

#: ``loss.label_loss``: the predictor's loss on the generated image itself
#: (``absolute``), or only its excess over the loss on the real image with the same
#: labels (``excess``: the generator is not asked for more than simulation gives).
LABEL_LOSSES = ("absolute", "excess")
