"""Decoding one image of an image folder: errors name the file."""
import pytest

from ultimus.data.image_folder import decode_image


def test_an_undecodable_image_is_named_and_not_its_stream():
    with pytest.raises(ValueError) as failed:
        decode_image(b"not an image", "train/cat/1.png in data.tar.gz")
    assert str(failed.value) == "cannot decode train/cat/1.png in data.tar.gz (cannot identify image file)"
