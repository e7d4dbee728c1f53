"""The figures a training run leaves behind: augmented samples, learning curves, mistakes, confusion.

Each ``figure_*`` function builds a matplotlib figure and returns it, still open, for inspection
or a notebook (close it with ``plt.close(figure)``). The matching ``save_*`` function writes that
figure to a PNG with :func:`save_figure`, which always closes it in pyplot, so a run that saves
figures every epoch never accumulates open figures, and returns it, so a notebook can show it.

Images come in one of two forms, told apart by an explicit argument: uint8 pixels (N, H, W, 3)
when ``mean`` and ``std`` are None, else the network's normalized inputs (N, 3, H, W) floats,
shown as pixel = image * std + mean. CuPy arrays are accepted and copied to the host (only the
images a figure shows are copied).
"""
import math

# No backend is forced: PNGs are drawn by Agg whatever the backend, a machine without a display
# falls back to Agg by itself, and a notebook keeps its inline backend to show the figure_* results.
import matplotlib.pyplot as plt
import numpy
from matplotlib.ticker import MaxNLocator

from minigrad.atomic import atomic_write
from minigrad.backend import get_array_module
from minigrad.checks import positive_integer
from ultimus.diagnostics.metrics import check_same_length, class_indices, confusion_matrix, to_host

SAMPLE_GRID_TITLE = "Training samples after augmentation"
MISCLASSIFIED_TITLE = "Misclassified images"
PANEL_INCHES = (1.5, 1.7)  # width, height of one image panel: room for a two-line title above it


def _channel_statistic(values, name, channels):
    """A per-channel mean or std as a float64 (channels,) array."""
    values = to_host(values).astype(numpy.float64).reshape(-1)
    if values.size != channels:
        raise ValueError(f"{name} has {values.size} values but the images have {channels} channels")
    return values


def denormalize(images, mean, std):
    """Undo per-channel normalization for display: (N, C, H, W) floats -> uint8 (N, H, W, C).

    The images were normalized as (pixel - mean) / std with pixels in [0, 1], so
    pixel = clip(image * std + mean, 0, 1), scaled to 0..255 and rounded. mean, std: (C,).
    """
    images = to_host(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}")
    channels = images.shape[1]
    mean = _channel_statistic(mean, "mean", channels)
    std = _channel_statistic(std, "std", channels)
    if numpy.any(std <= 0):
        raise ValueError(f"std must be positive in every channel, got {std}")
    pixels = numpy.clip(images * std[:, None, None] + mean[:, None, None], 0.0, 1.0)
    return numpy.round(pixels * 255).astype(numpy.uint8).transpose(0, 2, 3, 1)


def displayable(images, mean=None, std=None):
    """uint8 (N, H, W, 3) pixels to show: ``images`` themselves when mean and std are None
    (they must then be uint8 (N, H, W, 3)), else :func:`denormalize` of them."""
    if mean is not None or std is not None:
        return denormalize(images, mean, std)
    images = to_host(images)
    if images.dtype != numpy.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images without mean and std must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    return images


def save_figure(figure, path, dpi=120):
    """Write ``figure`` to ``path`` as a PNG, atomically, close it in pyplot and return it.

    Missing parent folders are created; a failure leaves no partial file and ``path`` as it was.
    The closed figure still draws: a notebook cell that ends with a ``save_*`` call shows it.
    """
    try:
        with atomic_write(path) as file:
            figure.savefig(file, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return figure


def _figure_of_images(pictures, titles, columns, title):
    """One panel per picture (uint8 (N, H, W, 3)) under its title, ``columns`` panels a row."""
    columns = min(columns, len(pictures))
    rows = math.ceil(len(pictures) / columns)
    panel_width, panel_height = PANEL_INCHES
    figure = plt.figure(
        figsize=(columns * panel_width, rows * panel_height + 0.4), layout="constrained"
    )
    figure.suptitle(title)
    for index, (picture, panel_title) in enumerate(zip(pictures, titles)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(picture, interpolation="nearest")  # nearest: show the 32x32 pixels, not a blur
        axes.set_title(panel_title, fontsize=8)
        axes.set_axis_off()
    return figure


def _figure_of_message(message, title):
    """A figure that only says ``message``, for when there is nothing to draw."""
    figure = plt.figure(figsize=(6, 1.5), layout="constrained")
    figure.suptitle(title)
    figure.text(0.5, 0.4, message, ha="center", va="center")
    return figure


def figure_sample_grid(images, labels, classes, *, mean=None, std=None, columns=8, title=SAMPLE_GRID_TITLE):
    """A grid of ``images`` (see the module docstring for their two forms), each titled with its class name.

    labels: (N,) indices into ``classes``.
    """
    positive_integer(columns, "columns")
    labels = class_indices(labels, "labels", len(classes))
    check_same_length({"images": images, "labels": labels})
    if len(labels) == 0:
        raise ValueError("images is empty: a sample grid needs at least one image")
    pictures = displayable(images, mean, std)
    return _figure_of_images(pictures, [classes[label] for label in labels], columns, title)


def save_sample_grid(images, labels, classes, path, **options):
    """Save :func:`figure_sample_grid` (with its keyword ``options``) as a PNG at ``path``; returns the (closed) figure."""
    return save_figure(figure_sample_grid(images, labels, classes, **options), path)


def _plot_train_and_eval(axes, epochs, train, evaluated, split, quantity):
    axes.plot(epochs, train, marker="o", markersize=3, label=f"train {quantity}")
    axes.plot(epochs, evaluated, marker="o", markersize=3, label=f"{split} {quantity}")
    axes.set_ylabel(quantity)
    axes.legend()


def figure_history_curves(history):
    """Loss and accuracy (percent) per epoch, train and eval (named after ``history.eval_split``),
    and the learning rate of each epoch's first step. history: a ``ultimus.training.history.History``."""
    if not history.records:
        raise ValueError("history is empty: there is no epoch to plot")
    split = history.eval_split
    epochs = history.column("epoch")
    figure, (loss_panel, accuracy_panel, lr_panel) = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    _plot_train_and_eval(loss_panel, epochs, history.column("train_loss"), history.column("eval_loss"), split, "loss")
    loss_panel.set_title("Loss")
    eval_percent = 100 * numpy.array(history.column("eval_accuracy"))
    train_percent = 100 * numpy.array(history.column("train_accuracy"))
    _plot_train_and_eval(accuracy_panel, epochs, train_percent, eval_percent, split, "accuracy (%)")
    best = int(numpy.argmax(eval_percent))
    accuracy_panel.set_title(f"Accuracy (best {split} {eval_percent[best]:.2f}% at epoch {epochs[best]})")
    lr_panel.plot(epochs, history.column("lr"), marker="o", markersize=3, color="tab:green")
    lr_panel.set_ylabel("learning rate")
    lr_panel.set_title("Learning rate")
    for panel in (loss_panel, accuracy_panel, lr_panel):
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
    return figure


def save_history_curves(history, path):
    """Save :func:`figure_history_curves` as a PNG at ``path``; returns the (closed) figure."""
    return save_figure(figure_history_curves(history), path)


def figure_misclassified(images, true_labels, predicted_labels, classes, *, mean=None, std=None, limit=25, columns=5):
    """The first ``limit`` of ``images`` (see the module docstring) whose prediction is wrong, titled true / predicted.

    true_labels, predicted_labels: (N,) indices into ``classes``. When every prediction is
    right, the figure says so instead.
    """
    positive_integer(limit, "limit")
    positive_integer(columns, "columns")
    true_labels = class_indices(true_labels, "true_labels", len(classes))
    predicted_labels = class_indices(predicted_labels, "predicted_labels", len(classes))
    check_same_length({"images": images, "true_labels": true_labels, "predicted_labels": predicted_labels})
    wrong = numpy.flatnonzero(true_labels != predicted_labels)
    if len(wrong) == 0:
        message = f"No misclassified images: all {len(true_labels)} predictions are correct"
        return _figure_of_message(message, MISCLASSIFIED_TITLE)
    shown = wrong[:limit]
    # index before copying: only the shown images leave the GPU
    pictures = displayable(images[get_array_module(images).asarray(shown)], mean, std)
    titles = [f"true: {classes[true_labels[index]]}\npred: {classes[predicted_labels[index]]}" for index in shown]
    title = (
        f"{MISCLASSIFIED_TITLE}: the first {len(shown)} of {len(wrong)} wrong predictions "
        f"({len(wrong) / len(true_labels):.1%} of {len(true_labels):,})"
    )
    return _figure_of_images(pictures, titles, columns, title)


def save_misclassified(images, true_labels, predicted_labels, classes, path, **options):
    """Save :func:`figure_misclassified` (with its keyword ``options``) as a PNG at ``path``; returns the (closed) figure."""
    return save_figure(figure_misclassified(images, true_labels, predicted_labels, classes, **options), path)


def figure_confusion_matrix(true_labels, predicted_labels, classes):
    """The confusion matrix as a heatmap: counts written in the cells, colors normalized per row.

    Row normalization makes the color of a cell the fraction of that true class predicted as
    the column's class, comparable across classes of different sizes.
    """
    counts = confusion_matrix(true_labels, predicted_labels, len(classes))
    # a class absent from true_labels has an all-zero row: divide by 1 instead of 0
    fractions = counts / numpy.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = 1.5 + 0.6 * len(classes)
    figure, axes = plt.subplots(figsize=(side + 1.5, side), layout="constrained")
    heatmap = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(heatmap, ax=axes, label="fraction of the true class")
    positions = numpy.arange(len(classes))
    axes.set_xticks(positions, classes, rotation=45, ha="right")
    axes.set_yticks(positions, classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    total = counts.sum()
    accuracy = numpy.trace(counts) / max(total, 1)
    axes.set_title(f"Confusion matrix ({total:,} images, accuracy {accuracy:.1%})")
    for (row, column), count in numpy.ndenumerate(counts):
        text_color = "white" if fractions[row, column] > 0.5 else "black"  # readable on dark cells
        axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color=text_color)
    return figure


def save_confusion_matrix(true_labels, predicted_labels, classes, path):
    """Save :func:`figure_confusion_matrix` as a PNG at ``path``; returns the (closed) figure."""
    return save_figure(figure_confusion_matrix(true_labels, predicted_labels, classes), path)
