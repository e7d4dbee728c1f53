"""Tests of ultimus.diagnostics.figures and ultimus.diagnostics.metrics: the numbers behind the figures, the figures' contents, and safe saving;
and the evaluation figures a run draws (ultimus.training.run_outputs)."""
import io

import matplotlib.figure
import numpy
import pytest
from PIL import Image

from minigrad import backend
from ultimus.data.datasets import RunData
from ultimus.diagnostics import figures, metrics
from ultimus.diagnostics.figures import plt
from ultimus.training import run_outputs
from ultimus.training.history import EpochRecord, History

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = numpy.array([0.49, 0.48, 0.45])
STD = numpy.array([0.25, 0.24, 0.26])


def normalized_batch(count, rng, height=8, width=8):
    """Random images of exact 8-bit pixels, normalized the way the data pipeline does it.

    Returns the normalized (N, 3, H, W) float32 images and their pixels as uint8 (N, H, W, 3).
    """
    pixels = rng.integers(0, 256, size=(count, height, width, 3)).astype(numpy.uint8)
    normalized = numpy.empty((count, 3, height, width), dtype=numpy.float32)
    for channel in range(3):
        normalized[:, channel] = (pixels[..., channel] / 255.0 - MEAN[channel]) / STD[channel]
    return normalized, pixels


def read_png(path):
    with Image.open(path) as image:
        image.load()
        return image.format, image.mode, image.size


def assert_valid_png(path):
    image_format, mode, (width, height) = read_png(path)
    assert image_format == "PNG"
    assert mode in ("RGB", "RGBA")
    assert width > 0 and height > 0


def image_panels(figure):
    return [axes for axes in figure.axes if axes.images]


def small_history(epochs=4, eval_split="test"):
    """A History of ``epochs`` (at most 4) records with made-up curves."""
    columns = (
        range(1, epochs + 1), numpy.linspace(2.0, 1.0, epochs), numpy.linspace(0.3, 0.6, epochs),
        numpy.linspace(1.9, 1.1, epochs), [0.35, 0.5, 0.62, 0.6][:epochs], [0.001, 0.01, 0.005, 0.0001][:epochs],
        [9.0, 8.0, 8.5, 8.1][:epochs],
    )
    return History(eval_split, [EpochRecord(*values) for values in zip(*columns)])


# confusion_matrix


def test_confusion_matrix_matches_double_loop():
    rng = numpy.random.default_rng(0)
    num_classes = 7
    true_labels = rng.integers(0, num_classes, size=500)
    predicted_labels = rng.integers(0, num_classes, size=500)
    expected = numpy.zeros((num_classes, num_classes), dtype=numpy.int64)
    for true_class in range(num_classes):
        for predicted_class in range(num_classes):
            expected[true_class, predicted_class] = numpy.sum(
                (true_labels == true_class) & (predicted_labels == predicted_class)
            )
    matrix = metrics.confusion_matrix(true_labels, predicted_labels, num_classes)
    assert matrix.dtype == numpy.int64
    numpy.testing.assert_array_equal(matrix, expected)


def test_confusion_matrix_hand_example_rows_are_true_classes():
    matrix = metrics.confusion_matrix(numpy.array([0, 0, 1, 2], dtype=numpy.uint8), [0, 2, 1, 1], 4)
    expected = [[1, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    numpy.testing.assert_array_equal(matrix, expected)


@pytest.mark.parametrize(
    "true_labels, predicted_labels, error, message",
    [
        ([0, 1, 2], [0, 1], ValueError, "true_labels has 3 entries but predicted_labels has 2"),
        ([0, 10], [0, 1], ValueError, "true_labels contains 10, outside \\[0, 10\\)"),
        ([0, 1], [-1, 1], ValueError, "predicted_labels contains -1, outside \\[0, 10\\)"),
        ([0.0, 1.0], [0, 1], TypeError, "true_labels must hold integer class indices"),
        ([[0, 1]], [[0, 1]], ValueError, "true_labels must be 1-D"),
    ],
)
def test_confusion_matrix_rejects_bad_labels(true_labels, predicted_labels, error, message):
    with pytest.raises(error, match=message):
        metrics.confusion_matrix(numpy.array(true_labels), numpy.array(predicted_labels), 10)


def test_confusion_matrix_rejects_bad_class_count():
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        metrics.confusion_matrix([0], [0], 0)


# denormalize


def test_denormalize_inverts_normalization():
    normalized, pixels = normalized_batch(5, numpy.random.default_rng(1), height=6, width=7)
    restored = figures.denormalize(normalized, MEAN, STD)
    assert restored.dtype == numpy.uint8
    assert restored.shape == (5, 6, 7, 3)
    numpy.testing.assert_array_equal(restored, pixels)


def test_denormalize_clips_to_displayable_range():
    images = numpy.zeros((1, 3, 1, 2))
    images[0, :, 0, 0] = 100.0  # far above white
    images[0, :, 0, 1] = -100.0  # far below black
    restored = figures.denormalize(images, MEAN, STD)
    numpy.testing.assert_array_equal(restored[0, 0, 0], [255, 255, 255])
    numpy.testing.assert_array_equal(restored[0, 0, 1], [0, 0, 0])


@pytest.mark.parametrize(
    "shape, mean, std, message",
    [
        ((3, 8, 8), MEAN, STD, "images must be \\(N, C, H, W\\), got shape \\(3, 8, 8\\)"),
        ((2, 3, 8, 8), [0.5, 0.5], STD, "mean has 2 values but the images have 3 channels"),
        ((2, 1, 8, 8), [0.5], STD, "std has 3 values but the images have 1 channels"),
        ((2, 3, 8, 8), MEAN, [0.2, 0.0, 0.2], "std must be positive in every channel"),
    ],
)
def test_denormalize_rejects_bad_input(shape, mean, std, message):
    with pytest.raises(ValueError, match=message):
        figures.denormalize(numpy.zeros(shape), mean, std)


# saving: every save_* writes a valid PNG, creates folders, closes its figure in pyplot and returns it


SAVED = ["a/samples.png", "b/curves.png", "c/wrong.png", "d/confusion.png"]


def save_each_figure(folder):
    """Call every save_* once with small inputs, into ``folder`` / SAVED; returns the figures they returned."""
    rng = numpy.random.default_rng(2)
    images, _ = normalized_batch(6, rng)
    labels = numpy.array([0, 1, 2, 3, 4, 5])
    predictions = numpy.array([0, 9, 2, 7, 4, 1])
    paths = [folder / name for name in SAVED]
    return [
        figures.save_sample_grid(images, labels, CLASSES, paths[0], mean=MEAN, std=STD, columns=3),
        figures.save_history_curves(small_history(), paths[1]),
        figures.save_misclassified(images, labels, predictions, CLASSES, paths[2], mean=MEAN, std=STD),
        figures.save_confusion_matrix(labels, predictions, CLASSES, paths[3]),
    ]


def test_every_save_writes_a_png_in_a_new_folder_and_closes_its_figure(tmp_path):
    save_each_figure(tmp_path / "run")
    for name in SAVED:
        path = tmp_path / "run" / name
        assert_valid_png(path)
        assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temporary left
    assert plt.get_fignums() == []


def test_every_save_returns_its_figure_which_still_draws_after_closing(tmp_path):
    """A notebook cell that ends with a save_* call shows the figure inline: it must still render."""
    for figure, name in zip(save_each_figure(tmp_path / "run"), SAVED):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
        with Image.open(buffer) as drawn, Image.open(tmp_path / "run" / name) as saved:
            assert drawn.size == saved.size


def test_failed_savefig_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    path.write_bytes(b"previous figure")

    def failing_savefig(self, file, **options):
        file.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        figures.save_history_curves(small_history(), path)
    assert [entry.name for entry in tmp_path.iterdir()] == ["curves.png"]
    assert path.read_bytes() == b"previous figure"
    assert plt.get_fignums() == []


# the figures' contents


def test_sample_grid_titles_every_image_with_its_class():
    images, pixels = normalized_batch(5, numpy.random.default_rng(3))
    labels = numpy.array([3, 1, 4, 1, 5])
    figure = figures.figure_sample_grid(images, labels, CLASSES, mean=MEAN, std=STD, columns=2, title="samples")
    panels = image_panels(figure)
    assert [panel.get_title() for panel in panels] == ["cat", "car", "deer", "car", "dog"]
    numpy.testing.assert_array_equal(panels[2].images[0].get_array(), pixels[2])
    assert figure.get_suptitle() == "samples"
    plt.close(figure)


@pytest.mark.parametrize(
    "labels, columns, error, message",
    [
        (numpy.array([0, 1]), 8, ValueError, "images has 3 entries but labels has 2"),
        (numpy.array([0, 1, 10]), 8, ValueError, "labels contains 10, outside \\[0, 10\\)"),
        (numpy.array([0, 1, 2]), 0, ValueError, "columns must be a positive integer, got 0"),
    ],
)
def test_sample_grid_rejects_bad_input(labels, columns, error, message):
    images, _ = normalized_batch(3, numpy.random.default_rng(4))
    with pytest.raises(error, match=message):
        figures.figure_sample_grid(images, labels, CLASSES, mean=MEAN, std=STD, columns=columns)


def test_history_curves_plot_epochs_from_one_and_accuracy_in_percent():
    history = small_history()
    figure = figures.figure_history_curves(history)
    assert len(figure.axes) == 3
    loss_panel, accuracy_panel = figure.axes[:2]
    for panel in (loss_panel, accuracy_panel):
        assert panel.get_lines()[0].get_label().startswith("train")
        assert panel.get_legend() is not None
        numpy.testing.assert_array_equal(panel.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    numpy.testing.assert_allclose(loss_panel.get_lines()[1].get_ydata(), history.column("eval_loss"))
    numpy.testing.assert_allclose(
        accuracy_panel.get_lines()[1].get_ydata(), [35.0, 50.0, 62.0, 60.0]
    )
    assert "best test 62.00% at epoch 3" in accuracy_panel.get_title()
    numpy.testing.assert_allclose(figure.axes[2].get_lines()[0].get_ydata(), history.column("lr"))
    plt.close(figure)


def test_history_curves_of_a_validation_run_name_the_validation_split():
    history = small_history(eval_split="validation")
    figure = figures.figure_history_curves(history)
    loss_panel, accuracy_panel = figure.axes[:2]
    plt.close(figure)
    assert [line.get_label() for line in loss_panel.get_lines()] == ["train loss", "validation loss"]
    numpy.testing.assert_allclose(loss_panel.get_lines()[1].get_ydata(), history.column("eval_loss"))
    assert "best validation 62.00% at epoch 3" in accuracy_panel.get_title()


def test_history_curves_reject_an_empty_history():
    with pytest.raises(ValueError, match="history is empty"):
        figures.figure_history_curves(History("test"))


@pytest.mark.parametrize("limit, expected_panels", [(25, 7), (4, 4), (7, 7)])
def test_misclassified_shows_the_first_limit_wrong_images(limit, expected_panels):
    rng = numpy.random.default_rng(5)
    images, pixels = normalized_batch(12, rng)
    true_labels = rng.integers(0, 10, size=12)
    predicted_labels = true_labels.copy()
    wrong_indices = [0, 2, 3, 5, 8, 10, 11]
    predicted_labels[wrong_indices] = (true_labels[wrong_indices] + 1) % 10
    figure = figures.figure_misclassified(
        images, true_labels, predicted_labels, CLASSES, mean=MEAN, std=STD, limit=limit, columns=3
    )
    panels = image_panels(figure)
    assert len(panels) == expected_panels
    for panel, index in zip(panels, wrong_indices):
        expected_title = f"true: {CLASSES[true_labels[index]]}\npred: {CLASSES[predicted_labels[index]]}"
        assert panel.get_title() == expected_title
        numpy.testing.assert_array_equal(panel.images[0].get_array(), pixels[index])
    assert f"first {expected_panels} of 7" in figure.get_suptitle()
    plt.close(figure)


def test_misclassified_says_so_when_every_prediction_is_right(tmp_path):
    images, _ = normalized_batch(3, numpy.random.default_rng(6))
    labels = numpy.array([1, 2, 3])
    figure = figures.figure_misclassified(images, labels, labels, CLASSES, mean=MEAN, std=STD)
    assert image_panels(figure) == []
    assert any("No misclassified images" in text.get_text() for text in figure.texts)
    plt.close(figure)
    figures.save_misclassified(images, labels, labels, CLASSES, tmp_path / "wrong.png", mean=MEAN, std=STD)
    assert_valid_png(tmp_path / "wrong.png")


def test_misclassified_rejects_inconsistent_lengths():
    images, _ = normalized_batch(3, numpy.random.default_rng(7))
    with pytest.raises(ValueError, match="images has 3 entries but true_labels has 2"):
        figures.figure_misclassified(images, [1, 2], [1, 2], CLASSES, mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="images has 3 entries but predicted_labels has 4"):
        figures.figure_misclassified(images, [1, 2, 3], [1, 2, 3, 4], CLASSES, mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="limit must be a positive integer, got 0"):
        figures.figure_misclassified(images, [1, 2, 3], [1, 2, 3], CLASSES, mean=MEAN, std=STD, limit=0)


def test_a_runs_misclassified_figure_captions_each_image_with_its_own_labels(tmp_path, monkeypatch):
    """The run shuffles the eval split before drawing it (the split is ordered by class): images, true
    labels and predictions must move together. Eval image n is filled with the value n, so that each
    panel tells which image it shows."""
    count = 40
    images = numpy.broadcast_to(numpy.arange(count, dtype=numpy.uint8)[:, None, None, None], (count, 8, 8, 3)).copy()
    labels = numpy.arange(count) // 4
    predictions = numpy.where(numpy.arange(count) % 2 == 0, (labels + 1) % 10, labels)
    drawn, real_figure_misclassified = [], figures.figure_misclassified

    def recording_the_panels(*args, **kwargs):
        figure = real_figure_misclassified(*args, **kwargs)
        drawn.extend((int(panel.images[0].get_array()[0, 0, 0]), panel.get_title()) for panel in image_panels(figure))
        return figure

    monkeypatch.setattr(figures, "figure_misclassified", recording_the_panels)
    run_outputs.save_evaluation_figures(RunData(images, labels, images, labels, list(CLASSES), "test"), predictions,
                                        str(tmp_path))
    assert sorted(index for index, _ in drawn) == list(range(0, count, 2))  # every wrong prediction, once
    for index, title in drawn:
        assert title == f"true: {CLASSES[labels[index]]}\npred: {CLASSES[predictions[index]]}", index
    assert_valid_png(tmp_path / "misclassified.png")


def test_confusion_heatmap_writes_counts_and_names_classes():
    true_labels = numpy.array([0, 0, 0, 1, 2, 2])
    predicted_labels = numpy.array([0, 0, 1, 1, 0, 2])
    classes = CLASSES[:3]
    figure = figures.figure_confusion_matrix(true_labels, predicted_labels, classes)
    heatmap_panel = figure.axes[0]
    written = {
        (round(text.get_position()[1]), round(text.get_position()[0])): text.get_text()
        for text in heatmap_panel.texts
    }
    expected = {(row, column): "0" for row in range(3) for column in range(3)}
    for true_class, predicted_class in zip(true_labels, predicted_labels):
        expected[true_class, predicted_class] = str(int(expected[true_class, predicted_class]) + 1)
    assert written == expected
    numpy.testing.assert_allclose(  # colors are row-normalized: the fraction of each true class
        heatmap_panel.images[0].get_array(),
        [[2 / 3, 1 / 3, 0], [0, 1, 0], [1 / 2, 0, 1 / 2]],
    )
    assert [label.get_text() for label in heatmap_panel.get_xticklabels()] == list(classes)
    assert [label.get_text() for label in heatmap_panel.get_yticklabels()] == list(classes)
    plt.close(figure)


@pytest.mark.gpu
def test_cupy_inputs_give_the_same_results(tmp_path):
    cupy = backend.array_module("gpu")
    images, pixels = normalized_batch(4, numpy.random.default_rng(8))
    true_labels = numpy.array([0, 1, 2, 3])
    predicted_labels = numpy.array([0, 2, 2, 1])
    restored = figures.denormalize(cupy.asarray(images), cupy.asarray(MEAN), STD)
    numpy.testing.assert_array_equal(restored, pixels)
    numpy.testing.assert_array_equal(
        metrics.confusion_matrix(cupy.asarray(true_labels), cupy.asarray(predicted_labels), 10),
        metrics.confusion_matrix(true_labels, predicted_labels, 10),
    )
    figure = figures.figure_misclassified(
        cupy.asarray(images),
        cupy.asarray(true_labels),
        cupy.asarray(predicted_labels),
        CLASSES,
        mean=MEAN,
        std=STD,
    )
    panels = image_panels(figure)
    assert len(panels) == 2
    numpy.testing.assert_array_equal(panels[1].images[0].get_array(), pixels[3])
    plt.close(figure)


def test_uint8_pixels_and_normalized_images_show_the_same_picture():
    images, pixels = normalized_batch(4, numpy.random.default_rng(9))
    labels = numpy.array([0, 1, 2, 3])
    wrong = numpy.array([1, 1, 3, 3])
    for figure_of in (lambda **form: figures.figure_sample_grid(labels=labels, classes=CLASSES, **form),
                      lambda **form: figures.figure_misclassified(true_labels=labels, predicted_labels=wrong,
                                                                  classes=CLASSES, **form)):
        from_floats = figure_of(images=images, mean=MEAN, std=STD)
        from_pixels = figure_of(images=pixels)
        shown = [[panel.images[0].get_array() for panel in image_panels(figure)] for figure in (from_floats, from_pixels)]
        plt.close(from_floats)
        plt.close(from_pixels)
        assert len(shown[0]) == len(shown[1]) > 0
        for floats, uint8 in zip(*shown):
            numpy.testing.assert_array_equal(floats, uint8)


def test_images_without_mean_and_std_must_be_uint8_pixels():
    images, _ = normalized_batch(2, numpy.random.default_rng(10))
    with pytest.raises(ValueError, match="images without mean and std must be uint8 \\(N, H, W, 3\\)"):
        figures.figure_sample_grid(images, numpy.array([0, 1]), CLASSES)
