"""The data pipeline: CIFAR-10 read from its source (the official archive, an image folder, or a
.tar.gz of one, every archive read with capped sizes), decoded once and cached, split, augmented on
the device, and cut into batches.

    load.py            load_cifar10: a source, decoded once, then read from the cache
    sources.py         tell an archive or folder apart and read it (safe_reading.py caps every read)
    official_archive.py, image_folder.py   the two formats; cifar10.py, the published format's facts
    cache.py           the decoded arrays as one .npz named by the source's content hash
    datasets.py        what a run trains and evaluates on: the eval split, subsets, mean and std
    transforms.py      batch augmentation; loaders.py: the loaders and each epoch's random draws
"""
