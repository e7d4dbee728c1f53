"""CIFAR-10 as an image folder: ``train/<class>/*.png|jpg|jpeg`` beside ``test/<class>/...``.

Functions take the ``tree`` of :mod:`ultimus.data.sources`: ``files`` (relative POSIX path -> bytes)
and ``folders`` (every folder's relative path).
"""
import io
import posixpath

import numpy
from PIL import Image

from ultimus.data.cifar10 import IMAGE_SIZE, IMAGE_SUFFIXES, OFFICIAL_FILES, SPLITS, Cifar10, where
from ultimus.progress import tqdm


def image_root(tree, source):
    """The folder that holds train/ and test/: the source itself, or one folder below it."""
    top_folders = sorted(folder for folder in tree.folders if "/" not in folder)
    for root in ["", *top_folders]:
        if any(posixpath.join(root, split) in tree.folders for split in SPLITS):
            return root
    raise ValueError(
        f"{source} holds no CIFAR-10 data: expected the official batches ({', '.join(OFFICIAL_FILES)}) "
        f"or image folders train/<class>/*.png|jpg|jpeg and test/<class>/..."
    )


def read_image_folder(tree, root, source, progress=True):
    """Decode ``root``/{train,test}/<class>/<image>; classes are the sorted folder names."""
    classes = _classes(tree, root, source)
    images_by_folder = {}
    for name in sorted(tree.files):
        if name.lower().endswith(IMAGE_SUFFIXES):
            images_by_folder.setdefault(posixpath.dirname(name), []).append(name)
    names, labels = {}, {}
    for split in SPLITS:
        names[split], labels[split] = [], []
        for label, class_name in enumerate(classes):
            folder = posixpath.join(root, split, class_name)
            if folder not in images_by_folder:
                raise ValueError(f"class folder {where(source, folder)} holds no {'/'.join(IMAGE_SUFFIXES)} images")
            names[split] += images_by_folder[folder]
            labels[split] += [label] * len(images_by_folder[folder])
    with tqdm(total=len(names["train"]) + len(names["test"]), desc="decoding images", unit=" images",
              disable=not progress) as bar:
        images = {split: _decode_images(tree, names[split], source, bar) for split in SPLITS}
    return Cifar10(
        train_images=images["train"], train_labels=numpy.array(labels["train"], dtype=numpy.int64),
        test_images=images["test"], test_labels=numpy.array(labels["test"], dtype=numpy.int64),
        classes=classes,
    )


def _classes(tree, root, source):
    """The sorted class folder names, which train/ and test/ must share."""
    class_folders = {}
    for split in SPLITS:
        split_folder = posixpath.join(root, split)
        if split_folder not in tree.folders:
            raise ValueError(f"the '{split}' split is missing: no folder {where(source, split_folder)}")
        class_folders[split] = {
            posixpath.basename(folder) for folder in tree.folders if posixpath.dirname(folder) == split_folder
        }
    for split, other in (("train", "test"), ("test", "train")):
        only_here = sorted(class_folders[split] - class_folders[other])
        if only_here:
            raise ValueError(f"class folder '{only_here[0]}' is in {split}/ but missing from {other}/ in {source}")
    return sorted(class_folders["train"])


def _decode_images(tree, names, source, bar):
    """Decode the named image files into one uint8 array (N, 32, 32, 3)."""
    images = numpy.empty((len(names), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=numpy.uint8)
    for index, name in enumerate(names):
        images[index] = decode_image(tree.files[name], where(source, name))
        bar.update()
    return images


def decode_image(content, where):
    """The bytes of a 32x32 PNG/JPEG -> uint8 (32, 32, 3) RGB; ``where`` names the file in errors."""
    stream = io.BytesIO(content)
    try:
        with Image.open(stream) as image:
            width, height = image.size  # read from the header: a wrong size is caught before decoding
            rgb = image.convert("RGB") if (width, height) == (IMAGE_SIZE, IMAGE_SIZE) else None
    except Exception as error:  # Pillow reports bad files as OSError, ValueError, SyntaxError, ...
        reason = str(error).replace(f" {stream!r}", "")  # Pillow names the file by its stream, which ``where`` does
        raise ValueError(f"cannot decode {where} ({reason})") from error
    if rgb is None:
        raise ValueError(f"{where} is {width}x{height} pixels; CIFAR-10 images are 32x32")
    return numpy.asarray(rgb)

