"""Choice lists shared by the config loader and the models (defined once)."""

#: ``loss.label_loss``: the predictor's loss on the generated image itself
#: (``absolute``), only its excess over the loss on the real image with the same
#: labels (``excess``), or the predictor's residuals matched in mean and spread to
#: its residuals on the real images of the batch (``matched``), or the predictor's
#: output on the real image with the same labels as the target (``partner``): the
#: last three do not ask the generator for more than simulation gives.
LABEL_LOSSES = ("absolute", "excess", "matched", "partner")

#: The label losses that compare each fake with the real image whose labels it got.
PAIRED_LABEL_LOSSES = ("excess", "matched", "partner")

#: ``model.precision``: the compute dtype of the generator's and critic's dense,
#: convolution and normalisation layers (variables stay float32; ``bfloat16`` is
#: Keras' ``mixed_bfloat16`` policy on those layers only).
PRECISIONS = ("float32", "bfloat16")

#: ``model.generator.upsampling``: strided transposed convolution, or resize + conv.
UPSAMPLING = ("transpose", "upsample")

#: ``model.generator.envelope_centre`` and ``envelope_length``: the shower
#: envelope's centre (length) learned from z and the labels, or held at the
#: training images' distance from the source (a multiple of their length),
#: fitted per label (:mod:`ctgans.train.envelope_fit`); also
#: ``model.generator.shower_intensity``: the image's total light learned, or held
#: at the training images' at these labels.
ENVELOPE_SETTINGS = ("learned", "fitted")
RENDER = ("grid", "pixels")
#: ``model.generator.window_channels``: which of the held window's channels the
#: output convolution reads with ``window_coordinates`` (the window; its profiles
#: along and across the axis; ``tanh`` of the offset along it: which end).
WINDOW_CHANNELS = ("window", "along", "across", "end")
ENVELOPE_AT = ("canvas", "pixels")
#: ``model.generator.shower_angle``: the image axis' angle around the source from
#: the noise with a learned shift, or uniform among the angles that keep the held
#: envelope's centre where the training images' light lies.
SHOWER_ANGLE = ("free", "contained")

#: ``model.generator.normalization``: after each generator convolution.
NORMALIZATION = ("batch", "layer", "none")

#: ``model.critic.conditioning``: projection discriminator, label channels, or none.
CONDITIONING = ("projection", "channels", "none")

#: ``model.critic.charge_views``: the p.e. scales of the extra views of the charge
#: (each a signed logarithm ``log1p(|q| / s)``), bounds of each item.
CHARGE_VIEW_MIN = 0.01
CHARGE_VIEW_MAX = 1000.0

#: ``model.critic.mapper_views``: dl1-data-handler mappers whose grid is set by
#: ``interpolation_image_shape`` (the data mapper's grid, other weights).
VIEW_MAPPERS = ("BilinearMapper", "BicubicMapper", "NearestNeighborMapper")

#: ``model.predictor.residual_block_type``: CTLearn's ResNet blocks.
RESIDUAL_BLOCKS = ("basic", "bottleneck")

#: ``train.label_source``: the fakes' labels, from the real batch or resampled.
LABEL_SOURCES = ("real", "sampled")
