"""What a run's predictions score: the confusion matrix, per-class accuracy and the checks of the labels they count."""
import numpy

from minigrad.backend import to_device
from minigrad.checks import positive_integer


def to_host(array):
    """``array`` as a NumPy array, copied from the GPU when it is a CuPy array."""
    return numpy.asarray(to_device(array, "cpu"))


def check_same_length(named_sequences):
    """Raise ValueError naming the first sequence whose length differs from the first one's.

    named_sequences: dict name -> sequence, in the order the names should be reported.
    """
    (first_name, first), *others = named_sequences.items()
    for name, sequence in others:
        if len(sequence) != len(first):
            raise ValueError(f"{first_name} has {len(first)} entries but {name} has {len(sequence)}")


def class_indices(labels, name, num_classes):
    """labels: (N,) integer class indices in [0, num_classes), returned on the host as int64."""
    labels = to_host(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class index per image), got shape {labels.shape}")
    if labels.size and not numpy.issubdtype(labels.dtype, numpy.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.size:
        raise ValueError(f"{name} contains {outside[0]}, outside [0, {num_classes}) for {num_classes} classes")
    return labels.astype(numpy.int64)


def confusion_matrix(true_labels, predicted_labels, num_classes):
    """How often each true class was predicted as each class: int64 (C, C), rows true.

    true_labels, predicted_labels: (N,) integers in [0, C). Every (true, predicted) pair gets
    the flat index true * C + predicted, so one bincount counts all pairs at once.
    """
    positive_integer(num_classes, "num_classes")
    true_labels = class_indices(true_labels, "true_labels", num_classes)
    predicted_labels = class_indices(predicted_labels, "predicted_labels", num_classes)
    check_same_length({"true_labels": true_labels, "predicted_labels": predicted_labels})
    counts = numpy.bincount(true_labels * num_classes + predicted_labels, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(numpy.int64)


def per_class_accuracy(true_labels, predicted_labels, num_classes):
    """The fraction of each true class predicted correctly: float64 (C,), NaN for a class with no image.

    true_labels, predicted_labels: (N,) integers in [0, C). It is the confusion matrix's diagonal
    over its row sums.
    """
    counts = confusion_matrix(true_labels, predicted_labels, num_classes)
    with numpy.errstate(invalid="ignore"):  # 0 / 0 for a class without images: NaN
        return numpy.diagonal(counts) / counts.sum(axis=1)
