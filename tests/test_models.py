"""Generator, critic and CTLearn predictor: shapes, conditioning, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ctgans.models import (
    Critic,
    Generator,
    build_predictor,
    compile_predictor,
    label_slices,
    split_targets,
)
from ctgans.models.generator import upsampling_plan

LATENT = 8


def _inputs(n_labels, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, LATENT)).astype("float32")
    labels = rng.normal(size=(batch, n_labels)).astype("float32")
    return z, labels


@pytest.mark.parametrize(
    "size, plan",
    [
        (43, (3, 6, 6)),
        (13, (2, 4, 4)),
        (11, (1, 6, 6)),
        (16, (2, 4, 4)),
        (110, (5, 4, 4)),
    ],
)
def test_upsampling_plan_covers_the_image_from_a_small_seed(size, plan):
    assert upsampling_plan(size, size) == plan
    n_blocks, seed_h, _ = plan
    assert seed_h * 2**n_blocks >= size > (seed_h - 1) * 2**n_blocks


@pytest.mark.parametrize("upsampling", ["transpose", "upsample"])
@pytest.mark.parametrize("normalization", ["batch", "layer", "none"])
def test_generator_odd_shape_and_per_channel_activations(upsampling, normalization):
    generator = Generator(
        (13, 13, 2),
        3,
        latent_dim=LATENT,
        base_filters=32,
        upsampling=upsampling,
        normalization=normalization,
        channel_activations=("tanh", "linear"),
    )
    z, labels = _inputs(3)
    assert generator((z, labels)).shape == (2, 13, 13, 2)
    # Large pre-activations: tanh saturates inside [-1, 1], linear passes through.
    conv = generator.get_layer("generator_output_conv")
    conv.kernel.assign(conv.kernel * 1000.0)
    images = np.asarray(generator((z, labels), training=False))
    assert np.abs(images[..., 0]).max() <= 1.0
    assert np.abs(images[..., 1]).max() > 1.0


def test_generator_depends_on_labels_and_makes_stereo_events():
    generator = Generator(
        (2, 16, 16, 1), 3, latent_dim=LATENT, base_filters=16, normalization="none"
    )
    z, labels = _inputs(3)
    images = np.asarray(generator((z, labels)))
    assert images.shape == (2, 2, 16, 16, 1)
    assert not np.allclose(images, np.asarray(generator((z, labels + 1.0))))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_shape": (13, 13)},
        {"upsampling": "bilinear"},
        {"normalization": "instance"},
        {"channel_activations": ("tanh",)},
    ],
)
def test_generator_rejects_bad_arguments(kwargs):
    args = {"image_shape": (13, 13, 2), "n_labels": 3, **kwargs}
    with pytest.raises(ValueError, match="Generator"):
        Generator(**args)


@pytest.mark.parametrize("conditioning", ["projection", "channels", "none"])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_critic_scores_follow_the_labels_only_when_conditional(
    conditioning, spectral_norm
):
    critic = Critic(
        (11, 11, 2),
        3,
        filters=(8, 16),
        conditioning=conditioning,
        spectral_norm=spectral_norm,
    )
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (2, 11, 11, 2)).astype("float32")
    labels = rng.normal(size=(2, 3)).astype("float32")
    scores = np.asarray(critic((images, labels)))
    assert scores.shape == (2, 1)
    changed = np.asarray(critic((images, labels + 1.0)))
    if conditioning == "none":
        np.testing.assert_array_equal(changed, scores)
    else:
        assert np.abs(changed - scores).min() > 1e-6


def test_critic_has_no_batch_normalisation_and_wraps_spectral_norm():
    critic = Critic((11, 11, 1), 2, filters=(8, 16), spectral_norm=True)
    critic((np.zeros((2, 11, 11, 1), "float32"), np.zeros((2, 2), "float32")))
    kinds = {type(layer).__name__ for layer in critic._flatten_layers()}
    assert "BatchNormalization" not in kinds
    assert critic.get_layer("critic_block2_conv_sn").layer.name == "critic_block2_conv"


@pytest.mark.parametrize("minibatch_std", [False, True])
def test_minibatch_std_makes_a_score_depend_on_the_batch_spread(
    minibatch_std, tmp_path
):
    """With ``minibatch_std`` the same image scores differently beside copies of
    itself than beside other images; without it every score is the image's own."""
    critic = Critic((11, 11, 1), 2, filters=(8, 16), minibatch_std=minibatch_std)
    rng = np.random.default_rng(4)
    image = rng.uniform(-1, 1, (1, 11, 11, 1)).astype("float32")
    labels = np.zeros((4, 2), "float32")
    copies = np.repeat(image, 4, axis=0)
    varied = np.concatenate([image, rng.uniform(-1, 1, (3, 11, 11, 1))]).astype(
        "float32"
    )
    alike = np.asarray(critic((copies, labels)))[0, 0]
    mixed = np.asarray(critic((varied, labels)))[0, 0]
    if minibatch_std:
        assert abs(alike - mixed) > 1e-5
    else:
        assert alike == pytest.approx(mixed, abs=1e-6)
    path = tmp_path / "critic.keras"
    critic.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config()["minibatch_std"] is minibatch_std
    np.testing.assert_allclose(
        np.asarray(loaded((varied, labels))),
        np.asarray(critic((varied, labels))),
        rtol=1e-6,
    )


def test_bfloat16_precision_computes_the_convolutions_in_bfloat16(tmp_path):
    """``precision: bfloat16``: convolutions compute in bfloat16 with float32
    variables; inputs and outputs stay float32, and the setting survives saving."""
    generator = Generator(
        (13, 13, 1),
        2,
        latent_dim=LATENT,
        base_filters=16,
        upsampling="upsample",
        precision="bfloat16",
    )
    critic = Critic((13, 13, 1), 2, filters=(8, 16), precision="bfloat16")
    z, labels = _inputs(2)
    images = generator((z, labels))
    scores = critic((images, labels))
    assert images.dtype == "float32" and scores.dtype == "float32"
    for model, conv in (
        (generator, "generator_block1_conv"),
        (critic, "critic_block1_conv"),
    ):
        layer = model.get_layer(conv)
        assert layer.compute_dtype == "bfloat16", conv
        assert layer.kernel.dtype == "float32", conv
    assert critic.get_layer("critic_score").compute_dtype == "float32"
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("generator_block1_conv").compute_dtype == "bfloat16"
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels), training=False)),
        np.asarray(generator((z, labels), training=False)),
    )
    with pytest.raises(ValueError, match="precision"):
        Generator((13, 13, 1), 2, precision="float16")


def test_source_coordinates_give_each_pixel_its_offset_from_the_source():
    """The planes are zero at the requested source and grow with the distance;
    through them even an unconditional critic's score follows the source."""
    affine = [[10.0, 0.0, 5.0], [0.0, 10.0, 5.0]]  # standardised label -> pixel
    frame = {"label_index": [0, 1], "affine": affine}
    critic = Critic(
        (11, 11, 1), 2, filters=(8,), conditioning="none", source_coordinates=frame
    )
    labels = np.array([[0.0, 0.0], [0.3, -0.2]], "float32")
    planes = np.asarray(critic._source_planes(labels, "float32"))
    assert planes.shape == (2, 11, 11, 3)
    assert planes[0, 5, 5, 2] == pytest.approx(0.0, abs=1e-5)  # source at (5, 5)
    assert planes[1, 8, 3, 2] == pytest.approx(0.0, abs=1e-5)  # source at (8, 3)
    assert planes[0, 5, 10, 1] == pytest.approx(5 / 11) and planes[0, 0, 5, 0] < 0
    images = np.zeros((2, 11, 11, 1), "float32")
    scores = np.asarray(critic((images, labels)))
    assert abs(scores[0, 0] - scores[1, 0]) > 1e-6
    plain = Critic((11, 11, 1), 2, filters=(8,), conditioning="none")
    flat = np.asarray(plain((images, labels)))
    assert flat[0, 0] == pytest.approx(flat[1, 0], abs=1e-7)
    assert Critic.from_config(critic.get_config()).source_coordinates == frame
    with pytest.raises(ValueError, match="mono"):
        Critic((2, 11, 11, 1), 2, source_coordinates=frame)


def test_charge_views_show_the_charges_through_other_logarithms():
    """Each view is the p.e. charge under its own signed logarithm, normalised
    to 1 at the charge of network value 1; the critic gets one channel more per
    view, survives its config, and refuses stereo images."""
    a, b = 1.0, 8.0  # network value y = sign(q) log1p(|q| / a) / b
    views = {"charge_scale": a, "charge_divisor": b, "scales": [0.3, 10.0]}
    critic = Critic((7, 7, 1), 2, filters=(8,), charge_views=views)
    charge = np.array([-5.0, 0.0, 0.5, 3.0, 100.0, np.expm1(b) * a], "float32")
    y = np.sign(charge) * np.log1p(np.abs(charge) / a) / b
    image = np.zeros((1, 7, 7, 1), "float32")
    image[0, 0, :6, 0] = y
    seen = np.asarray(critic._charge_views(image, "float32"))[0, 0, :6]
    for k, scale in enumerate(views["scales"]):
        expected = (
            np.sign(charge)
            * np.log1p(np.abs(charge) / scale)
            / np.log1p(np.expm1(b) * a / scale)
        )
        np.testing.assert_allclose(seen[:, k], expected, rtol=2e-4, atol=1e-6)
    assert seen[-1] == pytest.approx([1.0, 1.0], rel=1e-4)
    # A small scale lifts a dim pixel more than the charge's own transform does.
    assert seen[2, 0] > y[2] > seen[2, 1]
    labels = np.zeros((1, 2), "float32")
    critic((image, labels))
    assert critic.convs[0].kernel.shape[2] == 3  # charge + two views
    assert Critic.from_config(critic.get_config()).charge_views == views
    with pytest.raises(ValueError, match="charge_views"):
        Critic((2, 7, 7, 1), 2, charge_views=views)


def test_mapper_views_map_the_charges_again_and_are_saved_with_the_weights(tmp_path):
    """A mapper view is the p.e. charge of channel 0 through the fixed view
    matrix, in channel 0's transform; the matrix is a non-trainable weight, so a
    critic re-created from its config gets it back from the weights file."""
    a, b = 1.0, 8.0
    views = {"charge_scale": a, "charge_divisor": b, "mappers": ["Nearest"]}
    rng = np.random.default_rng(0)
    matrix = rng.permutation(np.eye(25, dtype="float32"))  # (H*W, H*W)
    matrix[:, 3] *= 2.0  # a cell that takes twice a pixel
    critic = Critic((5, 5, 1), 2, filters=(8,), mapper_views=views, view_matrix=matrix)
    charge = rng.gamma(0.5, 20.0, size=(2, 25)).astype("float32")
    y = np.log1p(charge / a) / b
    image = y.reshape(2, 5, 5, 1)
    labels = np.zeros((2, 2), "float32")
    critic((image, labels))
    seen = np.asarray(critic._mapper_views(image, "float32")).reshape(2, 25)
    expected = np.log1p((charge @ matrix) / a) / b
    np.testing.assert_allclose(seen, expected, rtol=1e-4, atol=1e-5)
    assert critic.convs[0].kernel.shape[2] == 2  # charge + one view
    assert not any(w is critic.view_matrix for w in critic.trainable_weights)
    critic.save_weights(tmp_path / "critic.weights.h5")
    again = Critic.from_config(critic.get_config())
    again((image, labels))
    assert again.mapper_views == views
    again.load_weights(tmp_path / "critic.weights.h5")
    np.testing.assert_allclose(
        np.asarray(again((image, labels))), np.asarray(critic((image, labels)))
    )
    # The penalty is taken between the real and generated images' views.
    import tensorflow as tf

    from ctgans.models.gan_losses import GP_EPSILON, gradient_penalty

    assert critic.penalty_on_views
    epsilon = np.array([0.3, 0.8], "float32")
    fake = image[::-1] * 0.7
    viewed = [np.asarray(critic.with_views(x)) for x in (image, fake)]
    point = tf.constant(
        viewed[0] + epsilon[:, None, None, None] * (viewed[1] - viewed[0])
    )
    with tf.GradientTape() as tape:
        tape.watch(point)
        scores = critic((point, labels), viewed=True)
    norm = np.sqrt(
        (np.asarray(tape.gradient(scores, point)) ** 2).sum((1, 2, 3)) + GP_EPSILON
    )
    expected = np.mean((norm - 1.0) ** 2)
    penalty = float(gradient_penalty(critic, image, fake, labels, epsilon))
    assert penalty == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="mapper_views"):
        Critic((2, 5, 5, 1), 2, mapper_views=views)
    with pytest.raises(ValueError, match="view_matrix"):
        Critic((5, 5, 1), 2, mapper_views=views, view_matrix=matrix[:, :24])(
            (image, labels)
        )


@pytest.mark.parametrize("normalization", ["batch", "none"])
def test_label_film_starts_as_the_unconditioned_network_and_uses_the_labels(
    normalization, tmp_path
):
    """FiLM layers follow every normalisation (or convolution), start at zero (the
    same output as without them) and, once non-zero, make the labels matter."""
    kwargs = dict(
        latent_dim=LATENT,
        base_filters=16,
        upsampling="upsample",
        normalization=normalization,
    )
    plain = Generator((13, 13, 1), 2, **kwargs)
    film = Generator((13, 13, 1), 2, label_film=True, **kwargs)
    z, labels = _inputs(2)
    plain((z, labels))
    film((z, labels))
    assert len(film.film_layers) == 2 * film.n_blocks
    for layer in plain.layers:  # same weights: FiLM at zero changes nothing
        film.get_layer(layer.name).set_weights(layer.get_weights())
    np.testing.assert_allclose(
        np.asarray(film((z, labels), training=False)),
        np.asarray(plain((z, labels), training=False)),
        atol=1e-6,
    )
    other = labels + 1.0
    before = np.asarray(film((z, other), training=False)) - np.asarray(
        plain((z, other), training=False)
    )
    assert np.abs(before).max() < 1e-6
    for dense in film.film_layers:
        kernel, bias = dense.get_weights()
        dense.set_weights([np.full_like(kernel, 0.1), bias])
    after = np.asarray(film((z, other), training=False)) - np.asarray(
        plain((z, other), training=False)
    )
    assert np.abs(after).max() > 1e-4
    path = tmp_path / "film.keras"
    film.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels), training=False)),
        np.asarray(film((z, labels), training=False)),
    )
    with pytest.raises(ValueError, match="label_film"):
        Generator((13, 13, 1), 0, label_film=True)


def test_critic_folds_stereo_telescopes_into_channels():
    critic = Critic((2, 11, 11, 1), 3, filters=(8,))
    images = np.zeros((2, 2, 11, 11, 1), "float32")
    images[:, 1] = 1.0
    folded = np.asarray(critic.fold_telescopes(images))
    assert folded.shape == (2, 11, 11, 2)
    assert folded[..., 0].max() == 0.0 and folded[..., 1].min() == 1.0
    assert critic((images, np.zeros((2, 3), "float32"))).shape == (2, 1)


@pytest.mark.parametrize(
    "model",
    [
        lambda: Generator(
            (13, 13, 2),
            3,
            latent_dim=LATENT,
            base_filters=16,
            upsampling="upsample",
            channel_activations=("tanh", "linear"),
        ),
        lambda: Critic(
            (13, 13, 2), 3, filters=(8, 16), conditioning="channels", spectral_norm=True
        ),
    ],
    ids=["generator", "critic"],
)
def test_keras_file_round_trip_gives_identical_outputs(model, tmp_path):
    model = model()
    z, labels = _inputs(3)
    if isinstance(model, Critic):
        z = np.random.default_rng(2).uniform(-1, 1, (2, 13, 13, 2)).astype("float32")
        model((z, labels), training=True)  # one power iteration: non-trivial state
    expected = np.asarray(model((z, labels), training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels), training=False)), expected
    )


def test_generator_holds_fixed_pixels_at_their_values(tmp_path):
    mask = np.zeros((13, 13, 2), int)
    mask[:3] = 1  # e.g. the grid rows outside a round camera
    values = np.zeros((13, 13, 2))
    values[..., 1] = -0.5  # a standardised time channel's "zero"
    generator = Generator(
        (13, 13, 2),
        3,
        latent_dim=LATENT,
        base_filters=16,
        channel_activations=("tanh", "linear"),
        fixed_mask=mask.tolist(),
        fixed_values=values.tolist(),
    )
    z, labels = _inputs(4)
    images = np.asarray(generator((z, labels), training=False))
    np.testing.assert_array_equal(
        images[:, :3], np.broadcast_to(values[:3], images[:, :3].shape)
    )
    assert np.abs(images[:, 3:]).sum() > 0  # the rest is generated
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels), training=False)), images
    )
    with pytest.raises(ValueError, match="fixed_mask` must have shape"):
        Generator((13, 13, 2), 3, fixed_mask=[[1]], fixed_values=[[0.0]])


def test_stereo_generator_gates_each_telescope_to_an_empty_slot(tmp_path):
    keras.utils.set_random_seed(0)
    empty = [0.0, -0.8]  # charge 0 and a standardised peak time of 0 ns
    generator = Generator(
        (2, 13, 13, 2),
        3,
        latent_dim=LATENT,
        base_filters=16,
        channel_activations=("tanh", "linear"),
        empty_values=empty,
    )
    z, labels = _inputs(3, batch=4)
    generator((z, labels))  # builds the gate
    kernel, bias = generator.gate.get_weights()
    generator.gate.set_weights([np.zeros_like(kernel), np.array([50.0, 50.0])])
    ungated = np.asarray(generator((z, labels), training=False))
    generator.gate.set_weights([np.zeros_like(kernel), np.array([-50.0, 50.0])])
    gated = np.asarray(generator((z, labels), training=False))
    # Telescope 1 closed: the empty values; telescope 2 open: its image.
    np.testing.assert_allclose(
        gated[:, 0], np.broadcast_to(empty, (4, 13, 13, 2)), rtol=1e-6, atol=1e-12
    )
    np.testing.assert_array_equal(gated[:, 1], ungated[:, 1])
    assert np.abs(gated[:, 1, ..., 0]).max() > 1e-3  # an image, not the empty value
    # Gates start near 1 (sigmoid(2)), so a new generator lights every telescope.
    assert float(bias[0]) == pytest.approx(2.0)
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels), training=False)), gated
    )
    with pytest.raises(ValueError, match="empty_values` needs stereo"):
        Generator((13, 13, 2), 3, empty_values=empty)
    with pytest.raises(ValueError, match="empty_values` needs stereo"):
        Generator((2, 13, 13, 2), 3, empty_values=[0.0])


@pytest.mark.parametrize(
    "tasks, sizes",
    [
        (["type"], {"type": 2}),
        (["energy", "cameradirection"], {"energy": 1, "cameradirection": 2}),
        (
            ["type", "energy", "skydirection"],
            {"type": 2, "energy": 1, "skydirection": 2},
        ),
    ],
)
def test_build_predictor_is_ctlearns_resnet_returning_a_dict(tasks, sizes):
    model = build_predictor((16, 16, 2), tasks, architecture=((16, 1), (32, 1)))
    outputs = model(np.zeros((2, 16, 16, 2), "float32"))
    assert isinstance(outputs, dict)
    assert {task: out.shape[-1] for task, out in outputs.items()} == sizes
    assert any(layer.name.startswith("ThinResNet_block") for layer in model.layers)
    if "type" in tasks:
        np.testing.assert_allclose(np.asarray(outputs["type"]).sum(-1), 1.0, rtol=1e-5)


def test_build_predictor_rejects_unknown_tasks_and_too_few_filters():
    with pytest.raises(ValueError, match="tasks"):
        build_predictor((16, 16, 1), ["energy", "impact"])
    with pytest.raises(ValueError, match="at least 16 filters"):
        build_predictor((16, 16, 1), ["energy"], architecture=((8, 1),))


def test_compile_predictor_trains_on_split_targets():
    columns = ("true_shower_primary_class", "log_true_energy")
    slices = label_slices(columns)
    model = build_predictor((11, 11, 1), list(slices), architecture=((16, 1),))
    compile_predictor(model, list(slices), learning_rate=1e-3)
    rng = np.random.default_rng(0)
    labels = np.stack([np.arange(8) % 2, rng.normal(size=8)], 1).astype("float32")
    targets = split_targets(labels, slices)
    assert targets["type"].dtype == "int32" and targets["energy"].shape == (8, 1)
    history = model.fit(
        rng.normal(size=(8, 11, 11, 1)).astype("float32"),
        targets,
        batch_size=4,
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][0])
    assert "type_accuracy" in history.history


def test_label_slices_follow_the_column_order():
    assert label_slices(
        ("log_true_energy", "cam_coord_offset_x", "cam_coord_offset_y")
    ) == {"energy": slice(0, 1), "cameradirection": slice(1, 3)}
    assert label_slices(("fov_lon", "fov_lat", "true_shower_primary_class")) == {
        "skydirection": slice(0, 2),
        "type": slice(2, 3),
    }
    assert label_slices(()) == {}


@pytest.mark.parametrize(
    "columns",
    [
        ("cam_coord_offset_x",),
        ("cam_coord_offset_y", "cam_coord_offset_x"),
        ("cam_coord_offset_x", "log_true_energy", "cam_coord_offset_y"),
        ("log_true_energy", "log_true_energy"),
        ("impact_radius",),
    ],
)
def test_label_slices_reject_incomplete_or_unknown_tasks(columns):
    with pytest.raises(ValueError, match="label columns"):
        label_slices(columns)
