"""The figures a training run leaves behind: augmented samples, learning curves, mistakes, confusion.

Each ``figure_*`` function builds a matplotlib figure and returns it, still open, for inspection
or a notebook (close it with ``plt.close(figure)``). The matching ``save_*`` function writes that
figure to a PNG with :func:`save_figure`, which always closes it, so a run that saves figures
every epoch never accumulates open figures.

Inputs are NumPy arrays; CuPy arrays are accepted too and copied to the host (only the images
a figure shows are copied). Images are the network's normalized inputs, (N, 3, H, W) floats.
"""
import math

import numpy as np

from minigrad.atomic import atomic_write
from minigrad.backend import get_array_module, to_device
from minigrad.checks import positive_integer

import matplotlib

matplotlib.use("Agg")  # render straight to files: no display needed, identical on a server and a laptop
import matplotlib.pyplot as plt  # noqa: E402  (pyplot must be imported after the backend is chosen)
from matplotlib.ticker import MaxNLocator  # noqa: E402

SAMPLE_GRID_TITLE = "Training samples after augmentation"
MISCLASSIFIED_TITLE = "Misclassified images"
PANEL_INCHES = (1.5, 1.7)  # width, height of one image panel: room for a two-line title above it


def _to_host(array):
    """``array`` as a NumPy array, copied from the GPU when it is a CuPy array."""
    return np.asarray(to_device(array, "cpu"))


def _check_same_length(named_sequences):
    """Raise ValueError naming the first sequence whose length differs from the first one's.

    named_sequences: dict name -> sequence, in the order the names should be reported.
    """
    (first_name, first), *others = named_sequences.items()
    for name, sequence in others:
        if len(sequence) != len(first):
            raise ValueError(f"{first_name} has {len(first)} entries but {name} has {len(sequence)}")


def _check_labels(labels, name, num_classes):
    """labels: (N,) integer class indices in [0, num_classes), returned as a NumPy int64 array."""
    labels = _to_host(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class index per image), got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.size:
        raise ValueError(
            f"{name} contains {outside[0]}, outside [0, {num_classes}) for {num_classes} classes"
        )
    return labels.astype(np.int64)


def _channel_statistic(values, name, channels):
    """A per-channel mean or std as a float64 (channels,) array."""
    values = _to_host(values).astype(np.float64).reshape(-1)
    if values.size != channels:
        raise ValueError(f"{name} has {values.size} values but the images have {channels} channels")
    return values


def denormalize(images, mean, std):
    """Undo per-channel normalization for display: (N, C, H, W) floats -> uint8 (N, H, W, C).

    The images were normalized as (pixel - mean) / std with pixels in [0, 1], so
    pixel = clip(image * std + mean, 0, 1), scaled to 0..255 and rounded.
    mean, std: (C,) per-channel statistics. Raw uint8 pixels (N, C, H, W) are shown
    as they are with mean 0 and std 1/255.
    """
    images = _to_host(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}")
    channels = images.shape[1]
    mean = _channel_statistic(mean, "mean", channels)
    std = _channel_statistic(std, "std", channels)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive in every channel, got {std}")
    pixels = np.clip(images * std[:, None, None] + mean[:, None, None], 0.0, 1.0)
    return np.round(pixels * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def save_figure(figure, path, dpi=120):
    """Write ``figure`` to ``path`` as a PNG, atomically, close the figure and return ``path``.

    Missing parent folders are created; a failure leaves no partial file and ``path`` as it was.
    """
    try:
        with atomic_write(path) as file:
            figure.savefig(file, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return path


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


def figure_sample_grid(images, labels, classes, mean, std, columns=8, title=SAMPLE_GRID_TITLE):
    """A grid of images (N, 3, H, W), normalized with mean/std, each titled with its class name.

    labels: (N,) indices into ``classes``.
    """
    positive_integer(columns, "columns")
    labels = _check_labels(labels, "labels", len(classes))
    _check_same_length({"images": images, "labels": labels})
    if len(labels) == 0:
        raise ValueError("images is empty: a sample grid needs at least one image")
    pictures = denormalize(images, mean, std)
    return _figure_of_images(pictures, [classes[label] for label in labels], columns, title)


def save_sample_grid(images, labels, classes, mean, std, path, columns=8, title=SAMPLE_GRID_TITLE):
    """Save :func:`figure_sample_grid` as a PNG at ``path``; returns ``path``."""
    return save_figure(figure_sample_grid(images, labels, classes, mean, std, columns, title), path)


def evaluation_split(history):
    """'validation' when the held-out curves of ``history`` are validation_*, else 'test'."""
    return "validation" if "validation_accuracy" in history else "test"


def _check_history(history):
    """The per-epoch curves of ``history`` as float64 arrays of one common, non-zero length."""
    split = evaluation_split(history)
    required = ("train_loss", f"{split}_loss", "train_accuracy", f"{split}_accuracy")
    missing = [key for key in required if key not in history]
    if missing:
        raise ValueError(f"history is missing {missing}; it has {sorted(history)}")
    keys = required + (("lr",) if "lr" in history else ())
    curves = {key: np.asarray(history[key], dtype=np.float64) for key in keys}
    for key, curve in curves.items():
        if curve.ndim != 1:
            raise ValueError(
                f"history[{key!r}] must be a list of per-epoch numbers, got shape {curve.shape}"
            )
    _check_same_length(curves)
    if len(curves["train_loss"]) == 0:
        raise ValueError("history is empty: there is no epoch to plot")
    for key in ("train_accuracy", f"{split}_accuracy"):
        if np.any(curves[key] < 0) or np.any(curves[key] > 1):
            raise ValueError(
                f"history[{key!r}] must be fractions in [0, 1] (they are plotted as percent), "
                f"got values from {curves[key].min()} to {curves[key].max()}"
            )
    return curves


def _plot_train_and_held_out(axes, epochs, train, held_out, split, quantity):
    axes.plot(epochs, train, marker="o", markersize=3, label=f"train {quantity}")
    axes.plot(epochs, held_out, marker="o", markersize=3, label=f"{split} {quantity}")
    axes.set_ylabel(quantity)
    axes.legend()


def figure_history_curves(history):
    """Loss and accuracy (percent) per epoch, train and test, plus the learning rate if recorded.

    history: dict of equal-length per-epoch lists with keys 'train_loss', 'test_loss',
    'train_accuracy', 'test_accuracy' (fractions in [0, 1]) and optionally 'lr'; a run that
    held out a validation split has 'validation_loss' and 'validation_accuracy' instead of the test keys.
    """
    curves = _check_history(history)
    split = evaluation_split(history)
    epochs = np.arange(1, len(curves["train_loss"]) + 1)
    panel_count = 3 if "lr" in curves else 2
    figure, panels = plt.subplots(1, panel_count, figsize=(5 * panel_count, 4), layout="constrained")
    loss_panel, accuracy_panel = panels[:2]
    _plot_train_and_held_out(loss_panel, epochs, curves["train_loss"], curves[f"{split}_loss"], split, "loss")
    loss_panel.set_title("Loss")
    held_out_percent = 100 * curves[f"{split}_accuracy"]
    _plot_train_and_held_out(
        accuracy_panel, epochs, 100 * curves["train_accuracy"], held_out_percent, split, "accuracy (%)"
    )
    best = int(np.argmax(held_out_percent))
    accuracy_panel.set_title(f"Accuracy (best {split} {held_out_percent[best]:.2f}% at epoch {best + 1})")
    if "lr" in curves:
        panels[2].plot(epochs, curves["lr"], marker="o", markersize=3, color="tab:green")
        panels[2].set_ylabel("learning rate")
        panels[2].set_title("Learning rate")
    for panel in panels:
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
    return figure


def save_history_curves(history, path):
    """Save :func:`figure_history_curves` as a PNG at ``path``; returns ``path``."""
    return save_figure(figure_history_curves(history), path)


def figure_misclassified(images, true_labels, predicted_labels, classes, mean, std, limit=25, columns=5):
    """The first ``limit`` images (N, 3, H, W) whose prediction is wrong, titled true / predicted.

    true_labels, predicted_labels: (N,) indices into ``classes``. When every prediction is
    right, the figure says so instead.
    """
    positive_integer(limit, "limit")
    positive_integer(columns, "columns")
    true_labels = _check_labels(true_labels, "true_labels", len(classes))
    predicted_labels = _check_labels(predicted_labels, "predicted_labels", len(classes))
    _check_same_length(
        {"images": images, "true_labels": true_labels, "predicted_labels": predicted_labels}
    )
    wrong = np.flatnonzero(true_labels != predicted_labels)
    shown = wrong[:limit]
    # index before copying: only the shown images leave the GPU
    pictures = denormalize(images[get_array_module(images).asarray(shown)], mean, std)
    if len(shown) == 0:
        message = f"No misclassified images: all {len(true_labels)} predictions are correct"
        return _figure_of_message(message, MISCLASSIFIED_TITLE)
    titles = [
        f"true: {classes[true_labels[index]]}\npred: {classes[predicted_labels[index]]}"
        for index in shown
    ]
    title = (
        f"{MISCLASSIFIED_TITLE}: the first {len(shown)} of {len(wrong)} wrong predictions "
        f"({len(wrong) / len(true_labels):.1%} of {len(true_labels):,})"
    )
    return _figure_of_images(pictures, titles, columns, title)


def save_misclassified(
    images, true_labels, predicted_labels, classes, mean, std, path, limit=25, columns=5
):
    """Save :func:`figure_misclassified` as a PNG at ``path``; returns ``path``."""
    figure = figure_misclassified(
        images, true_labels, predicted_labels, classes, mean, std, limit, columns
    )
    return save_figure(figure, path)


def confusion_matrix(true_labels, predicted_labels, num_classes):
    """How often each true class was predicted as each class: int64 (C, C), rows true.

    true_labels, predicted_labels: (N,) integers in [0, C). Every (true, predicted) pair gets
    the flat index true * C + predicted, so one bincount counts all pairs at once.
    """
    positive_integer(num_classes, "num_classes")
    true_labels = _check_labels(true_labels, "true_labels", num_classes)
    predicted_labels = _check_labels(predicted_labels, "predicted_labels", num_classes)
    _check_same_length({"true_labels": true_labels, "predicted_labels": predicted_labels})
    counts = np.bincount(true_labels * num_classes + predicted_labels, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def figure_confusion_matrix(true_labels, predicted_labels, classes):
    """The confusion matrix as a heatmap: counts written in the cells, colors normalized per row.

    Row normalization makes the color of a cell the fraction of that true class predicted as
    the column's class, comparable across classes of different sizes.
    """
    counts = confusion_matrix(true_labels, predicted_labels, len(classes))
    # a class absent from true_labels has an all-zero row: divide by 1 instead of 0
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = 1.5 + 0.6 * len(classes)
    figure, axes = plt.subplots(figsize=(side + 1.5, side), layout="constrained")
    heatmap = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(heatmap, ax=axes, label="fraction of the true class")
    positions = np.arange(len(classes))
    axes.set_xticks(positions, classes, rotation=45, ha="right")
    axes.set_yticks(positions, classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    total = counts.sum()
    accuracy = np.trace(counts) / max(total, 1)
    axes.set_title(f"Confusion matrix ({total:,} images, accuracy {accuracy:.1%})")
    for (row, column), count in np.ndenumerate(counts):
        text_color = "white" if fractions[row, column] > 0.5 else "black"  # readable on dark cells
        axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color=text_color)
    return figure


def save_confusion_matrix(true_labels, predicted_labels, classes, path):
    """Save :func:`figure_confusion_matrix` as a PNG at ``path``; returns ``path``."""
    return save_figure(figure_confusion_matrix(true_labels, predicted_labels, classes), path)
