"""Non-learned and simple baselines evaluated with the same harness as PinSage."""

from pinsage_dgl.baselines.popularity import Popularity

__all__ = ["Popularity"]
