"""The batches a run sees: the training loader with its augmentation, drawn afresh each epoch,
and the eval loader (the test or validation images, in order, normalized only)."""
import numpy

from minigrad import backend
from minigrad.data import ArrayDataset, DataLoader
from ultimus.data.transforms import CoarseDropout, Compose, HorizontalFlip, Normalize, RandomCrop, to_float_nchw


def make_train_transform(mean, std, config, generator):
    """uint8 (N, 32, 32, 3) -> augmented, normalized float32 (N, 3, 32, 32).

    Normalizing first makes 0 the dataset mean, so the crop's padding and the
    CoarseDropout hole are both filled with the mean colour.
    """
    steps = [Normalize(mean, std), RandomCrop(32, padding=4, fill=0.0, generator=generator)]
    if config.horizontal_flip:
        steps.append(HorizontalFlip(generator=generator))
    steps.append(CoarseDropout(max_holes=1, hole_height=8, hole_width=8, fill=0.0, p=config.coarse_dropout_p, generator=generator))
    augment = Compose(steps)
    return lambda batch: (augment(to_float_nchw(batch[0])), batch[1])


def make_eval_transform(mean, std):
    """uint8 (N, 32, 32, 3) -> normalized float32 (N, 3, 32, 32)."""
    normalize = Normalize(mean, std)
    return lambda batch: (normalize(to_float_nchw(batch[0])), batch[1])


def _on_device(array, device):
    return backend.to_device(numpy.ascontiguousarray(array), device)


def make_train_loader(data, config, device):
    """The shuffled training loader, every array on ``device``; its augmentation is set each
    epoch by :func:`augment_epoch`.

    On the CPU a background thread prepares the next batch; on the GPU the batch is made
    by kernels queued behind the current step, so there is nothing to overlap.
    """
    dataset = ArrayDataset(_on_device(data.train_images, device), _on_device(data.train_labels, device))
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=True, seed=config.seed, prefetch=device == "cpu")


def make_eval_loader(data, mean, std, config, device):
    """The loader of the eval split: in order, normalized only."""
    dataset = ArrayDataset(_on_device(data.eval_images, device), _on_device(data.eval_labels, device))
    return DataLoader(dataset, batch_size=config.eval_batch_size, transform=make_eval_transform(mean, std),
                      prefetch=device == "cpu")


def epoch_seeds(seed, epoch):
    """The augmentation seed and the dropout seed of epoch ``epoch``: a function of the run's seed
    and the epoch alone, so a run resumed from a checkpoint continues exactly as the uninterrupted
    run would have, on the CPU or the GPU (whose generators cannot be saved)."""
    augmentation_seed, dropout_seed = numpy.random.SeedSequence([seed, epoch]).generate_state(2)
    return int(augmentation_seed), int(dropout_seed)


def augment_epoch(train_loader, mean, std, config, epoch, device):
    """Give ``train_loader`` the augmentation of epoch ``epoch``, drawn by its own generator on the
    images' device (no random offsets cross to the GPU each batch); it never shares one with
    dropout, which the CPU's prefetch thread would race."""
    generator = backend.array_module(device).random.default_rng(epoch_seeds(config.seed, epoch)[0])
    train_loader.transform = make_train_transform(mean, std, config, generator)


def seed_dropout(config, epoch):
    """Reseed the global generator, which dropout draws from, for epoch ``epoch``."""
    backend.manual_seed(epoch_seeds(config.seed, epoch)[1])
