"""The attention matrices of the Ultimus blocks, read with forward hooks, and their figure.

Each block computes AM (N, 8, 8) from its query and key (see :class:`ultimus.model.Ultimus`):
AM_ij = softmax over i of Q_i K_j / sqrt(8), so each column j of AM is a distribution over
the 8 values V_i that entry j of the mixed vector draws from (Z_j = sum_i V_i AM_ij). With
scaling="after" the columns sum to 1/sqrt(8) instead of 1.

Nothing here changes the model's forward: :func:`recording_attention` hooks each block's
``query`` and ``key`` layers, and once a block has produced both it calls the block's own
``attention(query, key)`` on them: the block's definition of AM, which its forward computes fused
(``Ultimus.mix``, tested equal).
"""
import contextlib
import dataclasses

import numpy

from minigrad import backend
from minigrad.checks import positive_integer
from minigrad.tensor import Tensor, no_grad
from ultimus.diagnostics.figures import plt, save_figure
from ultimus.model import Ultimus


def attention_blocks(model):
    """The Ultimus blocks of ``model`` in network order."""
    blocks = [module for module in model.modules() if isinstance(module, Ultimus)]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no Ultimus block to read attention maps from")
    return blocks


@contextlib.contextmanager
def recording_attention(model):
    """Within the ``with``, every forward of ``model`` appends each block's AM (N, 8, 8) to a list.

    Yields one list per block (network order) of arrays on the model's device; the hooks are
    removed on leaving, also after an exception. The extra cost is one 8x8 softmax per block.
    """
    maps, handles = [], []
    for block in attention_blocks(model):
        found, pending = [], {}
        maps.append(found)

        def keep(name, block=block, found=found, pending=pending):
            def hook(module, inputs, output):
                pending[name] = output
                if len(pending) == 2:  # both of this forward's query and key have been computed
                    with no_grad():
                        found.append(block.attention(pending.pop("query"), pending.pop("key")).data)
            return hook

        handles += [block.query.register_forward_hook(keep("query")), block.key.register_forward_hook(keep("key"))]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _evaluating(model):
    """The model in eval mode under no_grad, each module's mode restored afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def attention_maps(model, images):
    """AM of every block for ``images`` (N, 3, H, W) on the model's device, in eval mode: a NumPy
    array (blocks, N, 8, 8)."""
    with _evaluating(model), recording_attention(model) as maps:
        model(Tensor(images))
    return numpy.stack([backend.to_device(found[0], "cpu") for found in maps])


@dataclasses.dataclass
class AttentionSummary:
    """What :func:`summarize_attention` keeps of a split's attention maps (NumPy arrays).

    mean: (blocks, 8, 8) over every image; class_mean: (blocks, classes, 8, 8) over each class's
    images (NaN for a class with none); class_count: (classes,); single: (blocks, k, 8, 8) of the
    k images asked for, whose labels are single_labels (k,).
    """

    mean: numpy.ndarray
    class_mean: numpy.ndarray
    class_count: numpy.ndarray
    single: numpy.ndarray
    single_labels: numpy.ndarray


def summarize_attention(model, loader, num_classes, singles=(0, 1, 2, 3)):
    """Mean AM per block over ``loader`` (batches of images (B, 3, H, W) and labels (B,) in
    [0, num_classes)), per class, and the maps of the images at positions ``singles`` of the
    loader's order, in eval mode.

    Only running sums (blocks, classes, 64) stay in memory, on the model's device, and cross
    to the host once at the end: the split's N maps are never held together.
    """
    num_classes = positive_integer(num_classes, "summarize_attention: num_classes")
    singles = numpy.asarray(singles, dtype=numpy.int64).reshape(-1)
    if not singles.size or singles.min() < 0 or len(set(singles.tolist())) < singles.size:
        raise ValueError(f"summarize_attention: singles must be distinct positions >= 0, got {singles.tolist()}")
    sums, counts, seen, single, single_labels = 0, 0, 0, [], []
    with _evaluating(model), recording_attention(model) as maps:
        for images, labels in loader:
            model(Tensor(images))
            xp = backend.get_array_module(maps[0][0])
            batch = xp.stack([found.pop() for found in maps])  # (blocks, B, 8, 8)
            one_hot = (labels[:, None] == xp.arange(num_classes)[None, :]).astype(batch.dtype)  # (B, classes)
            sums = sums + xp.einsum("bnk,nc->bck", batch.reshape(*batch.shape[:2], -1), one_hot)
            counts = counts + one_hot.sum(axis=0)
            here = xp.asarray(numpy.sort(singles[(singles >= seen) & (singles < seen + len(labels))]) - seen)
            if here.size:
                single.append(backend.to_device(batch[:, here], "cpu"))
                single_labels.append(backend.to_device(labels[here], "cpu"))
            seen += len(labels)
    if seen == 0:
        raise ValueError("summarize_attention: the loader yielded no batch")
    if singles.max() >= seen:
        raise ValueError(f"summarize_attention: single image {singles.max()} is past the loader's {seen} images")
    order = numpy.argsort(numpy.argsort(singles))  # the maps come in loader order: put them in singles' order
    single = numpy.concatenate(single, axis=1)[:, order]
    single_labels = numpy.concatenate(single_labels)[order]
    sums, counts = backend.to_device(sums, "cpu"), backend.to_device(counts, "cpu")
    blocks, size = sums.shape[0], int(round(sums.shape[2] ** 0.5))
    with numpy.errstate(invalid="ignore"):  # a class without images has no mean: NaN
        class_mean = (sums / counts[None, :, None]).reshape(blocks, num_classes, size, size)
    return AttentionSummary(
        mean=(sums.sum(axis=1) / counts.sum()).reshape(blocks, size, size),
        class_mean=class_mean,
        class_count=counts.astype(numpy.int64),
        single=single,
        single_labels=single_labels,
    )


def figure_attention(summary, pictures, class_names, classes=(0, 1, 2)):
    """One row per block: its mean AM over the split, the mean AM of each class in ``classes``,
    and the AM of each single image, drawn under that image on the top row.

    pictures: uint8 (k, H, W, 3), the summary's single images as they look. Every panel shares
    one colour scale from 0, so blocks whose columns spread evenly (all near 1/8) look flat and
    blocks that pick one position per output feature show bright cells.
    """
    pictures = numpy.asarray(pictures)
    single = summary.single
    if pictures.ndim != 4 or pictures.shape[-1] != 3 or pictures.dtype != numpy.uint8:
        raise ValueError(f"pictures must be uint8 (k, H, W, 3), got {pictures.dtype} {pictures.shape}")
    if len(pictures) != single.shape[1]:
        raise ValueError(f"pictures has {len(pictures)} images but the summary has maps of {single.shape[1]}")
    outside = [index for index in classes if not 0 <= index < summary.class_mean.shape[1]]
    if outside:
        raise ValueError(f"class {outside[0]} is outside [0, {summary.class_mean.shape[1]})")
    blocks = summary.mean.shape[0]
    panels = [[summary.mean[block], *summary.class_mean[block, list(classes)], *single[block]] for block in range(blocks)]
    titles = ["mean", *(f"{class_names[index]} (mean)" for index in classes),
              *(class_names[label] for label in summary.single_labels)]
    top = numpy.nanmax(panels)
    columns = len(panels[0])
    figure, axes = plt.subplots(blocks + 1, columns, figsize=(1.6 * columns, 1.6 * (blocks + 1)),
                                layout="constrained", squeeze=False)
    figure.suptitle("Attention AM_ij per block (softmax over i, down each column)")
    for column, axis in enumerate(axes[0]):
        axis.axis("off")
        if column >= columns - len(pictures):
            axis.imshow(pictures[column - (columns - len(pictures))], interpolation="nearest")
            axis.set_title(titles[column], fontsize=8)
    for block, row in enumerate(panels):
        for column, (axis, panel) in enumerate(zip(axes[block + 1], row)):
            image = axis.imshow(panel, vmin=0, vmax=top, cmap="viridis")
            axis.set_xticks([])
            axis.set_yticks([])
            if block == 0 and column < columns - len(pictures):
                axis.set_title(titles[column], fontsize=8)
            if column == 0:
                axis.set_ylabel(f"block {block}\ni (query)", fontsize=8)
                axis.set_xlabel("j (output feature)" if block == blocks - 1 else "", fontsize=8)
    figure.colorbar(image, ax=axes[1:, :], shrink=0.6, label="AM_ij")
    return figure


def save_attention(summary, pictures, class_names, path, classes=(0, 1, 2)):
    """Write :func:`figure_attention` to ``path`` as a PNG; returns the (closed) figure."""
    return save_figure(figure_attention(summary, pictures, class_names, classes), path)
