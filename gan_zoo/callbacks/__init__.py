"""Lightning callbacks and plugins: sample grids, atomic checkpoint IO."""

from gan_zoo.callbacks.checkpoint_io import AtomicCheckpointIO
from gan_zoo.callbacks.samples import SampleGrid, save_image_grid

__all__ = ["AtomicCheckpointIO", "SampleGrid", "save_image_grid"]
