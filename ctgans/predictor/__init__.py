"""The auxiliary label predictor, from training to judging: one package.

The network itself is CTLearn's ResNet, built by :mod:`ctgans.models.predictor`.
Here: :mod:`~ctgans.predictor.store` finds or trains (once) the training predictor
that steers the generator and the independent evaluation predictor of the
fidelity report; :mod:`~ctgans.predictor.fit` trains one on a cached dataset;
:mod:`~ctgans.predictor.figures` turns predictions into label-error figures
(energy bias and resolution, direction containment, type AUC; pyirf's
conventions), for training, evaluation and the augmentation study alike;
:mod:`~ctgans.predictor.recovery` is the end-of-training label recovery.
Nothing is imported here, so that reading figures does not load TensorFlow.
"""
