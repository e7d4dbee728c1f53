"""Batch augmentations: each takes and returns a whole float batch ``images: (N, C, H, W)``.

Every transform is vectorized over the batch (no loop over images) and written against
``xp = get_array_module(images)``, so it runs unchanged on NumPy or CuPy arrays. A random
transform draws all of its random numbers for the batch at once, then hands them to a
deterministic function (``crop``, ``cut_holes``) that does the array work; those functions can
be checked against a plain per-image loop. Semantics follow torchvision and Albumentations.
"""
import numpy

from minigrad.backend import device_of, fused_kernel, get_array_module, random_generator, to_device
from minigrad.checks import probability


def to_float_nchw(images):
    """uint8 images (N, H, W, C) -> float32 (N, C, H, W) in [0, 1], like torchvision's ToTensor."""
    if images.dtype != numpy.uint8:
        raise TypeError(f"to_float_nchw expects uint8 images, got {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"to_float_nchw expects a batch (N, H, W, C), got shape {images.shape}")
    xp = get_array_module(images)
    batch = images.transpose(0, 3, 1, 2).astype(xp.float32, order="C")
    batch /= 255
    return batch


class Normalize:
    """``(x - mean) / std`` per channel; the result keeps the input's float dtype."""

    def __init__(self, mean, std):
        self.mean = numpy.asarray(to_device(mean, "cpu"), dtype=numpy.float64).reshape(-1)
        self.std = numpy.asarray(to_device(std, "cpu"), dtype=numpy.float64).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean and std need one value per channel each, got {self.mean.size} and {self.std.size}")
        if not (self.std > 0).all():
            raise ValueError(f"std must be positive in every channel, got {self.std}")
        self._statistics = {}  # (device, dtype) -> (mean, std) shaped (1, C, 1, 1): copied once, not per batch

    def __call__(self, images):
        _check_float_batch(images)
        if images.shape[1] != self.mean.size:
            raise ValueError(f"Normalize has {self.mean.size} channels, the images have {images.shape[1]}")
        key = (device_of(images), images.dtype)
        if key not in self._statistics:
            self._statistics[key] = tuple(
                _like(images, values, dtype=images.dtype).reshape(1, -1, 1, 1) for values in (self.mean, self.std))
        mean, std = self._statistics[key]
        return (images - mean) / std


def crop(images, tops, lefts, size, padding, fill=0.0):
    """Pad every image by ``padding`` pixels of ``fill``, then cut its size x size window at
    (tops[n], lefts[n]) of the padded image.

    images: (N, C, H, W); tops, lefts: (N,) integers in [0, H + 2 padding - size] and
    [0, W + 2 padding - size]. Returns (N, C, size, size).
    """
    _check_float_batch(images)
    xp = get_array_module(images)
    count, channels, height, width = images.shape
    _check_offsets(tops, count, height + 2 * padding - size, "tops")
    _check_offsets(lefts, count, width + 2 * padding - size, "lefts")
    tops, lefts = _like(images, tops), _like(images, lefts)
    padded = xp.full((count, channels, height + 2 * padding, width + 2 * padding), fill, dtype=images.dtype)
    padded[:, :, padding:padding + height, padding:padding + width] = images
    windows = _windows(padded, size)  # (N, C, rows, columns, size, size), a view: nothing is copied
    return windows[xp.arange(count), :, tops, lefts]


def _windows(images, size):
    """A view (N, C, H - size + 1, W - size + 1, size, size) of every size x size window of
    ``images`` (N, C, H, W): stepping the window by one row is the same stride as stepping a row."""
    xp = get_array_module(images)
    count, channels, height, width = images.shape
    shape = (count, channels, height - size + 1, width - size + 1, size, size)
    strides = images.strides + images.strides[2:]
    return xp.lib.stride_tricks.as_strided(images, shape=shape, strides=strides)


def _check_offsets(offsets, count, largest, name):
    """Offsets must fit; only host (NumPy) offsets are range-checked, as reading a GPU result back
    would stall the GPU every batch (RandomCrop's own draws are in range by construction)."""
    if largest < 0:
        raise ValueError(f"the crop does not fit: the padded image is {-largest} pixels too small")
    offsets = numpy.asarray(offsets) if device_of(offsets) == "cpu" else offsets
    if offsets.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), one offset per image, got {offsets.shape}")
    if count and device_of(offsets) == "cpu" and not ((offsets >= 0) & (offsets <= largest)).all():
        raise ValueError(f"{name} must lie in [0, {largest}] so the window stays inside the padded image")


class RandomCrop:
    """torchvision's RandomCrop(size, padding): pad by ``padding`` with ``fill``, then crop
    size x size at a top-left offset uniform over [0, H + 2 padding - size] x [0, W + 2 padding - size]."""

    def __init__(self, size=32, padding=4, fill=0.0, generator=None):
        self.size, self.padding, self.fill, self.generator = size, padding, fill, generator

    def __call__(self, images):
        _check_float_batch(images)
        count, _, height, width = images.shape
        generator = _generator(self.generator, images)
        # max(..., 0): a window larger than the padded image is left for crop to explain.
        tops = generator.integers(0, max(height + 2 * self.padding - self.size, 0) + 1, size=count)
        lefts = generator.integers(0, max(width + 2 * self.padding - self.size, 0) + 1, size=count)
        return crop(images, tops, lefts, self.size, self.padding, self.fill)


def hole_mask(tops, lefts, height, width, image_height, image_width):
    """True inside the holes: the height x width rectangles at (tops, lefts).

    tops, lefts: (N,) for one hole per image or (N, holes). Returns bool (N, image_height, image_width).
    One kernel on a GPU (:func:`mark_holes`).
    """
    tops, lefts = tops.reshape(len(tops), -1), lefts.reshape(len(lefts), -1)  # (N, holes)
    mask = get_array_module(tops).empty((len(tops), image_height, image_width), dtype=bool)
    return mark_holes(tops, lefts, tops.shape[1], height, width, image_height, image_width, mask)


@fused_kernel(
    "raw I tops, raw I lefts, int32 holes, int32 height, int32 width, int32 image_height, int32 image_width",
    "bool mask",
    """
    const ptrdiff_t image = i / (image_height * image_width);
    const int row = i / image_width % image_height, column = i % image_width;
    bool inside = false;
    for (ptrdiff_t hole = image * holes; hole < (image + 1) * holes; ++hole) {
        inside = inside || (tops[hole] <= row && row < tops[hole] + height
                            && lefts[hole] <= column && column < lefts[hole] + width);
    }
    mask = inside;
    """,
)
def mark_holes(tops, lefts, holes, height, width, image_height, image_width, mask):
    """mask (N, image_height, image_width) = True in any of each image's ``holes`` rectangles, tops and lefts
    (N, holes). The CPU's passes, and the NumPy twin of the kernel above, in which thread i is pixel i."""
    rows, columns = numpy.arange(image_height), numpy.arange(image_width)
    in_rows = (rows >= tops[:, :, None]) & (rows < tops[:, :, None] + height)  # (N, holes, image_height)
    in_columns = (columns >= lefts[:, :, None]) & (columns < lefts[:, :, None] + width)  # (N, holes, image_width)
    numpy.any(in_rows[:, :, :, None] & in_columns[:, :, None, :], axis=1, out=mask)
    return mask


def cut_holes(images, tops, lefts, height, width, fill):
    """Fill height x width rectangles at (tops, lefts) with ``fill`` (a scalar or one value per channel).

    images: (N, C, H, W); tops, lefts: (N,) (one hole per image) or (N, holes). A rectangle that
    reaches past the border is clipped by it.
    """
    _check_float_batch(images)
    tops, lefts = _like(images, tops), _like(images, lefts)
    if tops.shape != lefts.shape or tops.shape[:1] != images.shape[:1]:
        raise ValueError(
            f"tops and lefts must both be (N,) or (N, holes) with N={len(images)}, got {tops.shape} and {lefts.shape}"
        )
    return _fill_where(images, hole_mask(tops, lefts, height, width, *images.shape[2:]), fill)


def _fill_where(images, mask, fill):
    """``images`` with ``fill`` (scalar or (C,)) wherever ``mask`` (N, H, W) is True, in every channel."""
    xp = get_array_module(images)
    if get_array_module(fill).ndim(fill) == 0:  # a scalar of the images' dtype: no array to copy to the device
        return xp.where(mask[:, None], images.dtype.type(fill), images)
    fill = _like(images, fill, dtype=images.dtype)
    if fill.ndim == 1:
        if fill.size != images.shape[1]:
            raise ValueError(f"fill needs one value per channel ({images.shape[1]}), got {fill.size}")
        fill = fill.reshape(1, -1, 1, 1)
    return xp.where(mask[:, None], fill, images)


class CoarseDropout:
    """Albumentations' CoarseDropout: each image, with probability ``p``, gets ``max_holes``
    rectangles of hole_height x hole_width filled with ``fill`` (scalar or one value per channel).

    As in Albumentations with its default ``min_holes = max_holes``, an affected image gets exactly
    ``max_holes`` holes (they may overlap), each placed inside the image: its top-left corner is
    uniform over [0, H - hole_height] x [0, W - hole_width].
    """

    def __init__(self, max_holes=1, hole_height=8, hole_width=8, fill=0.0, p=0.5, generator=None):
        probability(p, "CoarseDropout p")
        self.max_holes, self.hole_height, self.hole_width = max_holes, hole_height, hole_width
        self.fill, self.p, self.generator = fill, p, generator

    def __call__(self, images):
        _check_float_batch(images)
        count, _, height, width = images.shape
        if self.hole_height > height or self.hole_width > width:
            raise ValueError(f"a {self.hole_height}x{self.hole_width} hole does not fit in {height}x{width} images")
        generator = _generator(self.generator, images)
        affected = _like(images, generator.random(count) < self.p)
        tops = _like(images, generator.integers(0, height - self.hole_height + 1, size=(count, self.max_holes)))
        lefts = _like(images, generator.integers(0, width - self.hole_width + 1, size=(count, self.max_holes)))
        mask = hole_mask(tops, lefts, self.hole_height, self.hole_width, height, width) & affected[:, None, None]
        return _fill_where(images, mask, self.fill)


class HorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p=0.5, generator=None):
        self.p, self.generator = probability(p, "HorizontalFlip p"), generator

    def __call__(self, images):
        _check_float_batch(images)
        xp = get_array_module(images)
        flip = _like(images, _generator(self.generator, images).random(len(images)) < self.p)
        return xp.where(flip[:, None, None, None], images[..., ::-1], images)


class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images


def _generator(own, images):
    """The transform's own generator, else minigrad's shared one for the images' device."""
    return own if own is not None else random_generator(device_of(images))


def _like(images, values, dtype=None):
    """``values`` (a scalar, list, NumPy or CuPy array) as an array on the device of ``images``.

    A NumPy generator may drive transforms of CuPy images, so its draws are moved here.
    """
    return get_array_module(images).asarray(to_device(values, device_of(images)), dtype=dtype)


def _check_float_batch(images):
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got shape {images.shape}")
    if images.dtype.kind != "f":
        raise TypeError(f"expected float images (convert uint8 with to_float_nchw first), got {images.dtype}")
