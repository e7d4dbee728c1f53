"""ultimus.diagnostics.attention: the blocks' attention maps read with hooks, their summary over a loader, the figure."""
import numpy
import pytest
from helpers import tiny_model
from PIL import Image

import minigrad
from minigrad import Tensor
from minigrad.data import ArrayDataset, DataLoader
from ultimus.diagnostics.attention import attention_maps, recording_attention, save_attention, summarize_attention

CLASSES = ("plane", "car", "bird")


def images(count, seed=0):
    return numpy.random.default_rng(seed).standard_normal((count, 3, 8, 8)).astype(numpy.float32)


def independent_maps(model, x):
    """AM of every block written out in NumPy from each block's query and key weights: (blocks, N, 8, 8)."""
    features = model.features(Tensor(x)).data.astype(numpy.float64)
    maps = []
    for block in model.blocks:
        query = features @ block.query.weight.data.T + block.query.bias.data
        key = features @ block.key.weight.data.T + block.key.bias.data
        scores = query[:, :, None] * key[:, None, :] / numpy.sqrt(8)  # (N, i, j)
        exponentials = numpy.exp(scores - scores.max(axis=1, keepdims=True))
        maps.append(exponentials / exponentials.sum(axis=1, keepdims=True))  # softmax over i
        features = block(Tensor(features.astype(numpy.float32))).data.astype(numpy.float64)
    return numpy.stack(maps)


def test_each_column_of_every_map_sums_to_one_over_the_softmax_axis_i():
    maps = attention_maps(tiny_model().eval(), images(5))
    assert maps.shape == (2, 5, 8, 8)
    numpy.testing.assert_allclose(maps.sum(axis=2), 1.0, rtol=1e-5)


def test_maps_equal_an_independent_computation_from_query_and_key():
    model, x = tiny_model().eval(), images(4)
    with minigrad.no_grad():
        expected = independent_maps(model, x)
    numpy.testing.assert_allclose(attention_maps(model, x), expected, rtol=1e-4, atol=1e-6)


def test_hooks_leave_the_outputs_unchanged_and_are_removed_afterwards():
    model, x = tiny_model().eval(), images(3)
    without = model(Tensor(x)).data
    with recording_attention(model) as maps:
        within = model(Tensor(x)).data
    numpy.testing.assert_array_equal(within, without)
    assert [len(found) for found in maps] == [1, 1]
    assert all(not module._forward_hooks for module in model.modules())


def test_reading_the_maps_restores_the_training_mode():
    model = tiny_model().train()
    attention_maps(model, images(2))
    assert all(module.training for module in model.modules())


def test_the_summary_over_a_loader_matches_the_maps_of_the_whole_split():
    model, x = tiny_model(), images(11)
    labels = numpy.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1])  # class 2 has no image
    singles = [9, 3, 5, 2]  # across batches of 4, out of order within a batch too
    summary = summarize_attention(model, DataLoader(ArrayDataset(x, labels), batch_size=4), 3, singles=singles)
    maps = attention_maps(model, x)
    numpy.testing.assert_allclose(summary.mean, maps.mean(axis=1), rtol=1e-5)
    for label in (0, 1):
        numpy.testing.assert_allclose(summary.class_mean[:, label], maps[:, labels == label].mean(axis=1), rtol=1e-5)
    assert numpy.isnan(summary.class_mean[:, 2]).all()
    numpy.testing.assert_array_equal(summary.class_count, [4, 7, 0])
    numpy.testing.assert_allclose(summary.single, maps[:, singles], rtol=1e-6)
    numpy.testing.assert_array_equal(summary.single_labels, labels[singles])


def summary_of(model, count=4):
    labels = numpy.arange(count) % 3
    return summarize_attention(model, DataLoader(ArrayDataset(images(count), labels), batch_size=2), 3, singles=[0, 1, 3])


def test_the_figure_is_written_as_a_png(tmp_path):
    pictures = numpy.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype(numpy.uint8)
    save_attention(summary_of(tiny_model()), pictures, CLASSES, tmp_path / "attention.png")
    with Image.open(tmp_path / "attention.png") as image:
        assert image.format == "PNG" and image.size[0] > image.size[1]


def test_pictures_that_do_not_match_the_single_maps_are_rejected_before_drawing(tmp_path):
    pictures = numpy.zeros((2, 8, 8, 3), dtype=numpy.uint8)
    with pytest.raises(ValueError, match="pictures has 2 images but the summary has maps of 3"):
        save_attention(summary_of(tiny_model()), pictures, CLASSES, tmp_path / "attention.png")
    assert not (tmp_path / "attention.png").exists()


@pytest.mark.parametrize("singles, message", [([1, 1], "distinct positions >= 0"), ([-1], "distinct positions >= 0"),
                                              ([0, 4], "single image 4 is past the loader's 4 images")])
def test_single_positions_outside_the_loader_are_rejected(singles, message):
    loader = DataLoader(ArrayDataset(images(4), numpy.zeros(4, dtype=numpy.int64)), batch_size=2)
    with pytest.raises(ValueError, match=message):
        summarize_attention(tiny_model(), loader, 3, singles=singles)
