"""K-layer minibatches: importance neighbourhoods as DGL blocks, plus the input features."""

from __future__ import annotations

import dgl
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.sampling.blocks import block_from_neighbors
from pinsage_dgl.sampling.neighbors import importance_neighbors


class ImportanceSampler:
    """Builds the K blocks that compute embeddings of a set of pins.

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph (walks never see held-out edges).
    num_layers : int
        K, graph convolutions in the model.
    num_neighbors : int
        T, importance neighbours per pin.
    num_walks, walk_length, restart_prob
        Random-walk settings of :func:`importance_neighbors`.
    """

    def __init__(
        self,
        graph: PinBoardGraph,
        num_layers: int = 2,
        num_neighbors: int = 50,
        num_walks: int = 50,
        walk_length: int = 2,
        restart_prob: float = 0.0,
    ) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.graph = graph
        self.num_layers = num_layers
        self.walk_settings = {
            "num_neighbors": num_neighbors,
            "num_walks": num_walks,
            "walk_length": walk_length,
            "restart_prob": restart_prob,
        }

    def neighbors(self, pins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[S, T]`` importance neighbours and weights of ``pins`` (fresh walks)."""
        return importance_neighbors(self.graph.graph, pins, **self.walk_settings)

    def sample_blocks(self, seeds: torch.Tensor) -> list[dgl.DGLGraph]:
        """Blocks from the input layer (``blocks[0]``) up to ``seeds`` (``blocks[-1]``)."""
        blocks: list[dgl.DGLGraph] = []
        dst = seeds
        for _ in range(self.num_layers):
            block = block_from_neighbors(dst, *self.neighbors(dst))
            blocks.insert(0, block)
            dst = block.srcdata[dgl.NID]
        return blocks

    def input_features(self, blocks: list[dgl.DGLGraph]) -> dict[str, torch.Tensor]:
        """Pin features of the input nodes of ``blocks[0]`` (plus their ids as ``"_id"``)."""
        nodes = blocks[0].srcdata[dgl.NID]
        inputs = {name: value[nodes] for name, value in self.graph.pin_features.items()}
        inputs["_id"] = nodes
        return inputs
