"""ultimus: the Ultimus attention network and its CIFAR-10 training pipeline, built on minigrad."""
