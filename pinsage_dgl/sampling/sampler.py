"""K-layer minibatches: importance neighbourhoods as DGL blocks, plus the input features."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dgl
import torch
from tqdm.auto import tqdm

from pinsage_dgl.csr import index_dtype
from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.sampling.blocks import block_from_neighbors
from pinsage_dgl.sampling.neighbors import (
    importance_neighbors,
    stream_seeds,
    uniform_neighbors,
)
from pinsage_dgl.sampling.walks import WalkGraph

NEIGHBORHOODS = ("importance", "uniform")


@dataclass(frozen=True)
class Neighborhood:
    """How each pin's neighbourhood is drawn: the one set of these settings and their
    defaults, shared by :class:`ImportanceSampler`, the datamodules and the CLI
    (``--data.init_args.neighborhood.num_walks 40``).

    Attributes
    ----------
    num_neighbors : int
        T, neighbours per pin.
    num_walks, walk_length, restart_prob
        Random walks per pin and their settings (:func:`importance_neighbors`).
    popularity_penalty : float
        β: neighbours ranked by ``visits / degree^β`` (0: the paper's visit counts).
    kind : str
        ``"importance"`` (top-T by visit counts, the paper's) or ``"uniform"`` (T pins
        drawn uniformly with equal weights: GraphSAGE's, for the ablation; see
        :func:`uniform_neighbors`).
    table : bool
        Walk once from every pin into a ``[num_pins, T]`` table (a minibatch then only
        indexes it; a refresh re-walks it), or walk afresh for every minibatch.
    """

    num_neighbors: int = 10
    num_walks: int = 40
    walk_length: int = 2
    restart_prob: float = 0.0
    popularity_penalty: float = 0.0
    kind: str = "importance"
    table: bool = True

    def __post_init__(self) -> None:
        for name in ("num_neighbors", "num_walks", "walk_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"Neighborhood: {name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.restart_prob < 1.0:
            raise ValueError(
                f"Neighborhood: restart_prob must be in [0, 1), got {self.restart_prob}"
            )
        if self.kind not in NEIGHBORHOODS:
            raise ValueError(
                f"Neighborhood: kind must be one of {NEIGHBORHOODS}, got {self.kind!r}"
            )


class NeighborWalks:
    """Fresh neighbourhood walks of a graph's pins, chunk by chunk: what
    :class:`ImportanceSampler` walks, and all a walker on another machine needs (the
    graph's :class:`~pinsage_dgl.sampling.walks.WalkGraph`, e.g. memory-mapped).

    With a ``seed``, chunk ``i`` (``chunk_size`` pins from ``i * chunk_size``) is drawn
    from a torch stream seeded by (``seed``, :attr:`refreshes`, ``i``) (:meth:`walk_chunk`):
    the same seed and refresh count give the same rows in any process.

    Parameters
    ----------
    graph : dgl.DGLGraph or WalkGraph
        The pin/board graph walked (or its walk arrays).
    num_pins : int
        Pins of the graph.
    neighborhood : Neighborhood
        How neighbourhoods are drawn.
    prob : str, optional
        Edge feature weighing the walks' steps (the graph's walk weights, if any).
    chunk_size : int
        Pins walked at once.
    seed : int, optional
        Seed of the chunks' walks; None draws them from torch's current stream.
    """

    def __init__(
        self,
        graph: dgl.DGLGraph | WalkGraph,
        num_pins: int,
        neighborhood: Neighborhood = Neighborhood(),
        prob: str | None = None,
        chunk_size: int = 8192,
        seed: int | None = None,
    ) -> None:
        if not isinstance(neighborhood, Neighborhood):
            raise TypeError(
                f"neighborhood must be a Neighborhood, got {type(neighborhood).__name__}"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.neighborhood = neighborhood
        self.walk_graph = WalkGraph.of(graph)
        self.num_pins = num_pins
        settings = asdict(neighborhood)
        self.walk_settings = {
            k: settings[k]
            for k in (
                "num_neighbors",
                "num_walks",
                "walk_length",
                "restart_prob",
                "popularity_penalty",
            )
        }
        self.walk_settings["prob"] = prob
        self.chunk_size = chunk_size
        self.seed = seed
        self.refreshes = 0

    def walk(self, pins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[S, T]`` neighbours and weights of ``pins`` from fresh walks."""
        if self.neighborhood.kind == "uniform":
            return uniform_neighbors(self.walk_graph, pins, self.walk_settings["num_neighbors"])
        return importance_neighbors(self.walk_graph, pins, **self.walk_settings)

    @property
    def num_chunks(self) -> int:
        """Chunks of ``chunk_size`` pins that a whole-graph walk is made of."""
        return -(-self.num_pins // self.chunk_size)

    def walk_chunk(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Neighbours and weights of chunk ``index`` of the pins (``chunk_size`` pins from
        ``index * chunk_size``), from fresh walks.

        With a seed, the chunk's walks are drawn from a torch stream seeded by (``seed``,
        :attr:`refreshes`, ``index``) (torch's global stream is left as it was): a chunk
        does not depend on the others, so any process can walk any chunk (the sharded
        walks of :func:`~pinsage_dgl.distributed.walk_neighbors_sharded`) and get the rows
        of this table.
        """
        if not 0 <= index < self.num_chunks:
            raise IndexError(f"chunk {index} of {self.num_chunks}")
        start = index * self.chunk_size
        pins = torch.arange(start, min(start + self.chunk_size, self.num_pins))
        if self.seed is None:
            return self.walk(pins)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seeds(self.seed, self.refreshes, index, count=1)[0])
            return self.walk(pins)

    def walk_all(
        self,
        progress: bool = False,
        out: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[P, T]`` neighbours and weights of every pin from fresh walks, chunk by chunk
        (:meth:`walk_chunk`), written into ``out`` (an integer and a float32 ``[P, T]``)
        if given; by default the neighbours in int32 where pin ids fit (4 bytes per
        neighbour: 1.1 GiB less than int64 at 28.6M pins and T = 10)."""
        # filled in place: the chunks and their concatenation never coexist
        size = (self.num_pins, self.walk_settings["num_neighbors"])
        if out is None:
            out = (
                torch.empty(size, dtype=index_dtype(self.num_pins)),
                torch.empty(size, dtype=torch.float32),
            )
        neighbors, weights = out
        for index in tqdm(range(self.num_chunks), desc="neighbourhoods", disable=not progress):
            rows = slice(index * self.chunk_size, (index + 1) * self.chunk_size)
            neighbors[rows], weights[rows] = self.walk_chunk(index)
        return neighbors, weights


class ImportanceSampler(NeighborWalks):
    """Builds the K blocks that compute embeddings of a set of pins.

    Two ways to get a pin's importance neighbourhood:

    - ``neighborhood.table`` true: walk once from every pin (``num_walks`` each, so visit counts are
      precise) into a ``[num_pins, T]`` table kept in shared memory; a minibatch is then
      indexing, and :meth:`refresh` re-walks in place (DataLoader workers see the update).
      The walk arrays are released once the table is walked (built again from the graph
      when a refresh or a hard negative walks);
    - ``neighborhood.table`` false: fresh walks from each minibatch's pins (``num_walks``
      per pin per batch), as DGL's ``PinSAGESampler`` does.

    Whole-graph inference uses :meth:`neighbor_table`: the training table when there is
    one (training and inference then share neighbourhoods), else one walk of every pin,
    kept until the next :meth:`refresh`. With a ``seed``, each chunk of a whole-graph walk
    is drawn from torch's stream seeded by (``seed``, :attr:`refreshes`, the chunk's index;
    :meth:`walk_chunk`): the same seed and refresh
    count give the same table in any process, and each refresh gives a new one.

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph (walks never see held-out edges).
    num_layers : int
        K, graph convolutions in the model.
    neighborhood : Neighborhood
        How neighbourhoods are drawn (default :class:`Neighborhood`'s defaults).
    chunk_size : int
        Pins walked at once when building the table.
    progress : bool
        Show a progress bar while building the table.
    seed : int, optional
        Seed of the whole-graph walks (see above); None draws them from DGL's current
        stream.
    """

    def __init__(
        self,
        graph: PinBoardGraph,
        num_layers: int = 2,
        neighborhood: Neighborhood = Neighborhood(),
        chunk_size: int = 8192,
        progress: bool = False,
        seed: int | None = None,
    ) -> None:
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        # the saves' weights, if any, weigh the walks
        super().__init__(
            graph.graph, graph.num_pins, neighborhood, graph.walk_weights, chunk_size, seed
        )
        self.graph = graph
        self.num_layers = num_layers
        self.table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._walked: tuple[torch.Tensor, torch.Tensor] | None = None  # for inference only
        if neighborhood.table and num_layers > 0:
            # walked straight into shared memory (moving it there after would copy it)
            size = (graph.num_pins, neighborhood.num_neighbors)
            table = (
                torch.empty(size, dtype=index_dtype(graph.num_pins)).share_memory_(),
                torch.empty(size, dtype=torch.float32).share_memory_(),
            )
            self.table = self.walk_all(progress, out=table)
            # training reads the table, not the walk arrays: rebuilt at the next refresh
            self.walk_graph.release()

    def neighbor_table(self, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``[P, T]`` importance neighbours and weights of every pin for whole-graph
        inference: the training table if the sampler keeps one, else one walk of every pin
        (kept until the next :meth:`refresh`)."""
        if self.table is not None:
            return self.table
        if self._walked is None:
            self._walked = self.walk_all(progress)
        return self._walked

    def refresh(self, refreshes: int | None = None) -> None:
        """Fresh neighbourhoods: re-walk the training table in place (DataLoader workers see
        it) and forget the inference walk; counts in :attr:`refreshes`.

        ``refreshes`` (default: the next) walks the table of that refresh count, e.g. to
        restore the table of a resumed run (seeded walks give the same table again)."""
        target = self.refreshes + 1 if refreshes is None else refreshes
        if target < 0:
            raise ValueError(f"refreshes must be >= 0, got {target}")
        self.refreshes = target
        self._walked = None
        if self.table is not None:
            self.walk_all(out=self.table)
            self.walk_graph.release()

    def neighbors(self, pins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[S, T]`` importance neighbours and weights of ``pins``."""
        if self.table is not None:
            return self.table[0][pins], self.table[1][pins]
        return self.walk(pins)

    def sample_blocks(self, seeds: torch.Tensor) -> list[dgl.DGLGraph]:
        """Blocks from the input layer (``blocks[0]``) up to ``seeds`` (``blocks[-1]``)."""
        blocks: list[dgl.DGLGraph] = []
        dst = seeds
        for _ in range(self.num_layers):
            block = block_from_neighbors(dst, *self.neighbors(dst), self.graph.num_pins)
            blocks.insert(0, block)
            dst = block.srcdata[dgl.NID]
        return blocks

    def input_features(
        self, blocks: list[dgl.DGLGraph], seeds: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Pin features of the input nodes of ``blocks[0]`` (plus their ids as ``"_id"``);
        of ``seeds`` themselves when there are no blocks (K = 0)."""
        nodes = blocks[0].srcdata[dgl.NID] if blocks else seeds
        inputs = {name: value[nodes] for name, value in self.graph.pin_features.items()}
        inputs["_id"] = nodes
        return inputs
