"""cupy.cuda as far as minigrad uses it: one device, which the runtime counts and which can be waited for."""
from standin_cupy import _ledger as ledger


class Device:
    """cupy.cuda.Device: the stand-in's single device, id 0."""

    def __init__(self, device=None):
        self.id = 0

    def synchronize(self):
        """Wait for the device's queued work: a host sync."""
        ledger.note("sync", "Device.synchronize")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False


def getDeviceCount():
    """cupy.cuda.runtime.getDeviceCount: the stand-in has one device."""
    return 1
