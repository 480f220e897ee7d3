"""Lightning callbacks and plugins: sample grids, atomic checkpoint IO, wall-clock snapshots."""

from gan_zoo.callbacks.checkpoint_io import AtomicCheckpointIO
from gan_zoo.callbacks.samples import SampleGrid, save_image_grid
from gan_zoo.callbacks.wall_clock import WallClockCheckpoints

__all__ = ["AtomicCheckpointIO", "SampleGrid", "WallClockCheckpoints", "save_image_grid"]
