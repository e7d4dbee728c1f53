"""ultimus.data.transforms: deterministic kernels against per-image loops, random ones by their statistics."""
import numpy
import pytest

from minigrad import backend
from ultimus.data.loaders import make_train_transform
from ultimus.data.transforms import (
    CoarseDropout,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
    crop,
    cut_holes,
    to_float_nchw,
)
from ultimus.training.config import TrainConfig


def random_images(count=4, channels=3, height=32, width=32, seed=0):
    return numpy.random.default_rng(seed).random((count, channels, height, width), dtype=numpy.float32)


def crop_reference(images, tops, lefts, size, padding, fill):
    """One image at a time: numpy.pad, then slice."""
    result = []
    for image, top, left in zip(images, tops, lefts):
        padded = numpy.pad(image, ((0, 0), (padding, padding), (padding, padding)), constant_values=fill)
        result.append(padded[:, top:top + size, left:left + size])
    return numpy.stack(result)


def holes_reference(images, tops, lefts, height, width, fill):
    """One image and one hole at a time; tops, lefts are (N, holes)."""
    result = images.copy()
    for index in range(len(images)):
        for top, left in zip(tops[index], lefts[index]):
            result[index, :, top:top + height, left:left + width] = numpy.reshape(fill, (-1, 1, 1))
    return result


def changed_rectangle(before, after):
    """(top, left, height, width) of the single rectangle where channel 0 changed; asserts it is one."""
    rows, columns = numpy.nonzero(before[0] != after[0])
    top, left = rows.min(), columns.min()
    height, width = rows.max() - top + 1, columns.max() - left + 1
    assert len(rows) == height * width, "the changed pixels do not form one filled rectangle"
    return top, left, height, width


# ---------------------------------------------------------------- to_float_nchw and Normalize


def test_to_float_nchw_matches_a_loop():
    images = numpy.random.default_rng(1).integers(0, 256, size=(2, 5, 4, 3), dtype=numpy.uint8)
    result = to_float_nchw(images)
    assert result.dtype == numpy.float32 and result.shape == (2, 3, 5, 4) and result.flags.c_contiguous
    for n, c, h, w in numpy.ndindex(result.shape):
        assert result[n, c, h, w] == numpy.float32(images[n, h, w, c]) / numpy.float32(255)
    assert result.min() >= 0 and result.max() <= 1


def test_to_float_nchw_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        to_float_nchw(numpy.zeros((1, 4, 4, 3), dtype=numpy.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        to_float_nchw(numpy.zeros((4, 4, 3), dtype=numpy.uint8))


def test_normalize_matches_the_formula_and_keeps_float32():
    images = random_images(3, 3, 5, 6)
    mean, std = numpy.array([0.49, 0.48, 0.45]), numpy.array([0.25, 0.24, 0.26])
    result = Normalize(mean, std)(images)
    assert result.dtype == numpy.float32
    expected = (images.astype(numpy.float64) - mean[:, None, None]) / std[:, None, None]
    numpy.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)


def test_normalize_rejects_bad_settings():
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize([0.5, 0.5, 0.5], [0.2, 0.0, 0.2])
    with pytest.raises(ValueError, match="one value per channel"):
        Normalize([0.5, 0.5, 0.5], [0.2, 0.2])
    with pytest.raises(ValueError, match="3 channels, the images have 1"):
        Normalize([0.5] * 3, [0.2] * 3)(random_images(2, 1, 4, 4))


def test_test_time_pipeline_is_deterministic():
    images = numpy.random.default_rng(2).integers(0, 256, size=(4, 8, 8, 3), dtype=numpy.uint8)
    normalize = Normalize([0.4, 0.5, 0.6], [0.2, 0.3, 0.4])
    first, second = normalize(to_float_nchw(images)), normalize(to_float_nchw(images))
    numpy.testing.assert_array_equal(first, second)
    mean, std = numpy.array([0.4, 0.5, 0.6])[:, None, None], numpy.array([0.2, 0.3, 0.4])[:, None, None]
    expected = (images.transpose(0, 3, 1, 2) / 255 - mean) / std
    numpy.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- crop and RandomCrop


@pytest.mark.parametrize("size, padding, fill", [(32, 4, 0.0), (5, 2, -0.5), (6, 0, 0.0)])
def test_crop_matches_a_per_image_loop(size, padding, fill):
    images = random_images(6, 3, 7, 9) if size < 32 else random_images(6)
    generator = numpy.random.default_rng(3)
    tops = generator.integers(0, images.shape[2] + 2 * padding - size + 1, size=6)
    lefts = generator.integers(0, images.shape[3] + 2 * padding - size + 1, size=6)
    result = crop(images, tops, lefts, size, padding, fill)
    assert result.dtype == numpy.float32
    numpy.testing.assert_array_equal(result, crop_reference(images, tops, lefts, size, padding, fill))


def test_crop_rejects_offsets_outside_the_padded_image():
    images = random_images(2)
    with pytest.raises(ValueError, match=r"tops must lie in \[0, 8\]"):
        crop(images, [0, 9], [0, 0], 32, 4)
    with pytest.raises(ValueError, match=r"lefts must lie in \[0, 8\]"):
        crop(images, [0, 0], [-1, 0], 32, 4)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        crop(images, [0, 0, 0], [0, 0, 0], 32, 4)
    with pytest.raises(ValueError, match="does not fit"):
        crop(images, [0, 0], [0, 0], 48, 4)


@pytest.mark.parametrize("make_crop", [
    lambda generator: RandomCrop(32, 4, fill=-1.0, generator=generator),
    lambda generator: RandomCrop(fill=-1.0, generator=generator),  # the defaults are the assignment's 32 and 4
], ids=["explicit", "defaults"])
def test_random_crop_reaches_all_81_offsets_and_only_those(make_crop):
    count, size, padding = 3000, 32, 4
    # Each pixel holds its own position, so the window's centre pixel reveals the offset.
    positions = numpy.arange(size * size, dtype=numpy.float32).reshape(size, size)
    images = numpy.broadcast_to(positions, (count, 1, size, size)).copy()
    result = make_crop(numpy.random.default_rng(4))(images)
    centre = result[:, 0, size // 2, size // 2].astype(int)
    tops = centre // size - size // 2 + padding
    lefts = centre % size - size // 2 + padding
    seen = set(zip(tops.tolist(), lefts.tolist()))
    assert seen == {(top, left) for top in range(9) for left in range(9)}
    numpy.testing.assert_array_equal(result, crop_reference(images, tops, lefts, size, padding, -1.0))
    counts = numpy.bincount(tops * 9 + lefts, minlength=81)
    assert counts.min() > 10 and counts.max() < 70, "offsets are far from uniform"


# ---------------------------------------------------------------- cut_holes and CoarseDropout


def test_cut_holes_fills_exactly_the_requested_rectangles_per_channel():
    images = random_images(3, 3, 16, 16)
    fill = numpy.array([5.0, 6.0, 7.0])
    tops, lefts = numpy.array([0, 8, 3]), numpy.array([8, 0, 5])
    result = cut_holes(images, tops, lefts, 8, 8, fill)
    assert result.dtype == numpy.float32
    numpy.testing.assert_array_equal(result, holes_reference(images, tops[:, None], lefts[:, None], 8, 8, fill))
    for channel, value in enumerate(fill):
        assert (result[:, channel] == value).sum() == 3 * 64


def test_cut_holes_with_several_holes_and_a_scalar_fill():
    images = random_images(2, 3, 12, 12)
    tops, lefts = numpy.array([[0, 4], [9, 1]]), numpy.array([[0, 2], [9, 0]])
    result = cut_holes(images, tops, lefts, 3, 5, -2.0)
    numpy.testing.assert_array_equal(result, holes_reference(images, tops, lefts, 3, 5, -2.0))


def test_cut_holes_rejects_mismatched_arguments():
    images = random_images(2, 3, 8, 8)
    with pytest.raises(ValueError, match="one value per channel"):
        cut_holes(images, [0, 0], [0, 0], 2, 2, [1.0, 2.0])
    with pytest.raises(ValueError, match="tops and lefts"):
        cut_holes(images, [0, 0, 0], [0, 0, 0], 2, 2, 0.0)


def test_coarse_dropout_with_p1_makes_exactly_one_8x8_hole_inside_each_image():
    images = random_images(400)
    fill = numpy.array([-1.0, -2.0, -3.0])
    result = CoarseDropout(max_holes=1, hole_height=8, hole_width=8, fill=fill, p=1.0,
                           generator=numpy.random.default_rng(5))(images)
    assert result.dtype == numpy.float32
    tops, lefts = [], []
    for before, after in zip(images, result):
        top, left, height, width = changed_rectangle(before, after)
        assert (height, width) == (8, 8)
        for channel, value in enumerate(fill):
            assert (after[channel, top:top + 8, left:left + 8] == value).all()
        tops.append(top)
        lefts.append(left)
    # The hole lies inside the image, and every in-image position is reachable.
    assert set(tops) == set(range(25)) and set(lefts) == set(range(25))
    numpy.testing.assert_array_equal(result, holes_reference(images, numpy.c_[tops], numpy.c_[lefts], 8, 8, fill))


def test_coarse_dropout_with_p0_changes_nothing():
    images = random_images(50)
    numpy.testing.assert_array_equal(CoarseDropout(p=0.0, generator=numpy.random.default_rng(6))(images), images)


def test_coarse_dropout_with_p_half_affects_about_half_the_images():
    images = random_images(2000, 1, 16, 16)
    result = CoarseDropout(hole_height=4, hole_width=4, fill=-1.0, p=0.5, generator=numpy.random.default_rng(7))(images)
    affected = (result != images).any(axis=(1, 2, 3))
    assert 0.45 < affected.mean() < 0.55  # 4.5 standard deviations either side
    assert ((result != images).sum(axis=(1, 2, 3))[affected] == 16).all()


def test_coarse_dropout_with_several_holes_fills_each():
    images = random_images(1, 1, 32, 32)
    generator = numpy.random.default_rng(8)
    result = CoarseDropout(max_holes=3, hole_height=2, hole_width=2, fill=-1.0, p=1.0, generator=generator)(images)
    assert 4 < (result == -1.0).sum() <= 12  # three 2x2 holes, overlapping at most partly (seeded)


def test_coarse_dropout_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"CoarseDropout p must be a probability in \[0, 1\], got 1.5"):
        CoarseDropout(p=1.5)
    with pytest.raises(ValueError, match="8x8 hole does not fit in 4x4"):
        CoarseDropout(p=1.0)(random_images(1, 3, 4, 4))


# ---------------------------------------------------------------- flip, Compose, seeding, dtype


def test_horizontal_flip_against_numpy_flip():
    images = random_images(200, 3, 4, 5)
    flipped = numpy.flip(images, axis=3)
    numpy.testing.assert_array_equal(HorizontalFlip(p=1.0)(images), flipped)
    numpy.testing.assert_array_equal(HorizontalFlip(p=0.0)(images), images)
    result = HorizontalFlip(p=0.5, generator=numpy.random.default_rng(9))(images)
    is_flipped = (result == flipped).all(axis=(1, 2, 3))
    assert ((result == images).all(axis=(1, 2, 3)) | is_flipped).all()
    assert 60 < is_flipped.sum() < 140


def train_pipeline(seed, horizontal_flip=True, coarse_dropout_p=0.5, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26)):
    """The training run's own augmentation (ultimus.data.loaders.make_train_transform) on uint8 (N, 32, 32, 3)."""
    config = TrainConfig(horizontal_flip=horizontal_flip, coarse_dropout_p=coarse_dropout_p)
    augment = make_train_transform(numpy.array(mean), numpy.array(std), config, numpy.random.default_rng(seed))
    return lambda images: augment((images, None))[0]


def test_compose_applies_in_order_and_same_seed_gives_same_output():
    pixels = numpy.random.default_rng(10).integers(0, 256, size=(64, 32, 32, 3), dtype=numpy.uint8)
    first, second, other = train_pipeline(1)(pixels), train_pipeline(1)(pixels), train_pipeline(2)(pixels)
    images = to_float_nchw(pixels)
    assert first.dtype == numpy.float32 and first.shape == images.shape
    numpy.testing.assert_array_equal(first, second)
    assert not numpy.array_equal(first, other)
    normalize, flip = Normalize([0.0] * 3, [0.5] * 3), HorizontalFlip(p=1.0)
    numpy.testing.assert_array_equal(Compose([normalize, flip])(images), flip(normalize(images)))


def test_without_a_generator_the_shared_seeded_one_is_used():
    images = random_images(16)
    backend.manual_seed(11)
    first = RandomCrop()(images)
    backend.manual_seed(11)
    numpy.testing.assert_array_equal(RandomCrop()(images), first)


def test_the_training_augmentation_crops_at_offsets_0_to_8_and_cuts_one_8x8_hole():
    """Position-encoded images: channel 0 holds row + 1, channel 1 column + 1, channel 2 is 1 on every
    image pixel; with mean 0 and std 1/255 normalizing gives back these values, and 0 is the fill."""
    count = 2000
    rows, columns = numpy.mgrid[1:33, 1:33]
    pixels = numpy.broadcast_to(numpy.stack([rows, columns, numpy.ones_like(rows)], axis=-1), (count, 32, 32, 3))
    augment = train_pipeline(3, horizontal_flip=False, coarse_dropout_p=1.0, mean=[0.0] * 3, std=[1 / 255] * 3)
    result = augment(pixels.astype(numpy.uint8))
    offsets, hole_sizes = set(), set()
    for image in result.round().astype(int):
        inside = image[2] == 1
        top = image[0][inside][0] - 1 - numpy.argwhere(inside)[0][0] + 4  # padded row of the window's first row
        left = image[1][inside][0] - 1 - numpy.argwhere(inside)[0][1] + 4
        offsets.add((top, left))
        expected_inside = numpy.zeros((40, 40), dtype=bool)
        expected_inside[4:36, 4:36] = True
        expected_inside = expected_inside[top:top + 32, left:left + 32]
        hole_rows, hole_columns = numpy.nonzero(expected_inside & ~inside)
        height, width = numpy.ptp(hole_rows) + 1, numpy.ptp(hole_columns) + 1
        assert len(hole_rows) == height * width and height <= 8 and width <= 8  # one rectangle, clipped by the padding
        touches_padding = not expected_inside[max(hole_rows.min() - 1, 0):hole_rows.max() + 2,
                                              max(hole_columns.min() - 1, 0):hole_columns.max() + 2].all()
        if not touches_padding:
            hole_sizes.add((height, width))
    assert offsets == {(top, left) for top in range(9) for left in range(9)}
    assert hole_sizes == {(8, 8)}


@pytest.mark.parametrize("transform", [RandomCrop(), CoarseDropout(), HorizontalFlip(), Normalize([0.5] * 3, [0.2] * 3)])
def test_transforms_keep_float32_and_reject_uint8(transform):
    assert transform(random_images(4)).dtype == numpy.float32
    with pytest.raises(TypeError, match="to_float_nchw"):
        transform(numpy.zeros((4, 3, 32, 32), dtype=numpy.uint8))


# ---------------------------------------------------------------- the same code on CuPy


@pytest.mark.gpu
def test_transforms_on_cupy_match_numpy():
    cupy = backend.array_module("gpu")
    images = random_images(64)
    pixels = (images * 255).astype(numpy.uint8).transpose(0, 2, 3, 1)
    on_gpu = cupy.asarray(images)
    generator = numpy.random.default_rng(12)
    tops, lefts = generator.integers(0, 9, size=64), generator.integers(0, 9, size=64)
    numpy.testing.assert_array_equal(crop(on_gpu, cupy.asarray(tops), cupy.asarray(lefts), 32, 4, 0.5).get(),
                                     crop(images, tops, lefts, 32, 4, 0.5))
    fill = numpy.array([1.0, 2.0, 3.0])
    holes_on_gpu = cut_holes(on_gpu, cupy.asarray(tops), cupy.asarray(lefts), 8, 8, cupy.asarray(fill))
    numpy.testing.assert_array_equal(holes_on_gpu.get(), cut_holes(images, tops, lefts, 8, 8, fill))
    # A NumPy generator driving CuPy images draws the same numbers as on the CPU.
    numpy.testing.assert_allclose(train_pipeline(3)(cupy.asarray(pixels)).get(), train_pipeline(3)(pixels),
                                  rtol=1e-6, atol=1e-6)
    # CuPy's own generator: results stay on the GPU, float32, with exactly one 8x8 hole when p=1.
    cropped = RandomCrop()(on_gpu)
    dropped = CoarseDropout(p=1.0, fill=-1.0)(on_gpu)
    assert isinstance(cropped, cupy.ndarray) and cropped.dtype == cupy.float32
    assert isinstance(dropped, cupy.ndarray) and dropped.dtype == cupy.float32
    for before, after in zip(images, dropped.get()):
        assert changed_rectangle(before, after)[2:] == (8, 8)
    normalized = Normalize([0.5] * 3, [0.25] * 3)(on_gpu)
    numpy.testing.assert_allclose(normalized.get(), (images - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    numpy.testing.assert_array_equal(to_float_nchw(cupy.asarray(pixels)).get(), to_float_nchw(pixels))
