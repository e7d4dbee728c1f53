"""Progress bars: a widget in a notebook, text in a terminal.

tqdm.auto would choose the same way, but its class also serves ``async for``, and for that it calls
iter() on what it wraps the moment it is made: a DataLoader would shuffle (and start its prefetch
thread) once for nothing, and a run would draw other batches than the same run gets from a plain
bar. tqdm.autonotebook makes the same choice without that.
"""
import warnings

from tqdm import TqdmExperimentalWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmExperimentalWarning)  # "notebook mode is experimental": it has long worked
    from tqdm.autonotebook import tqdm  # noqa: F401  (this module's one export)
