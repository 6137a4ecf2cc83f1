"""The ``pinsage`` command.

``pinsage fit|validate|test|predict --config configs/<name>.yaml`` are LightningCLI
subcommands (several ``--config`` files stack; any option can be overridden, e.g.
``--data.init_args.path /my/ml-1m``). Two more use the same configs:

- ``pinsage recommend --config C --ckpt_path K [--pins ID ...] [--boards ID ...]
  [--new-pins TABLE] [--k 10] [--index FILE | --index-kind exact|flat|ivf|hnsw]``
  prints the top-k pins for each pin, board or new pin (cold start, from its features),
  with raw ids and titles;
- ``pinsage embed --config C --ckpt_path K --output emb.npz|emb.parquet`` writes every
  pin's embedding with its raw id, atomically (a model trained with
  ``--model.popularity_prior true`` adds its prior as a last column: the vectors its
  index serves);
- ``pinsage index --embeddings emb.npz --kind hnsw --output pins.index.npz`` builds and
  saves a nearest-neighbour index of those embeddings (for ``recommend --index``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import warnings

import torch
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import read_table
from pinsage_dgl.inference import (
    EMBEDDING_FORMATS,
    embed_all_pins,
    load_embeddings,
    save_embeddings,
)
from pinsage_dgl.lit import PinSageModule
from pinsage_dgl.retrieval import (
    INDEX_KINDS,
    Index,
    IndexFileError,
    build_index,
    load_index,
)


class PinSageCLI(LightningCLI):
    """LightningCLI with the model's depth linked into the data (its blocks have one hop per
    convolution) and the data's sizes linked into the model."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("model.num_layers", "data.init_args.num_layers", apply_on="parse")
        parser.link_arguments("data", "model.pin_spec", compute_fn=_spec, apply_on="instantiate")
        parser.link_arguments(
            "data", "model.num_boards", compute_fn=_num_boards, apply_on="instantiate"
        )
        parser.link_arguments(
            "data", "model.num_pins", compute_fn=_num_pins, apply_on="instantiate"
        )

    def before_instantiate_classes(self) -> None:
        """Paths follow ``trainer.default_root_dir`` (a config names its run directory
        once): CSV logs under it unless a logger is given (or ``--trainer.logger false``),
        and a ``ModelCheckpoint`` without a ``dirpath`` writes to ``<root>/checkpoints``."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        root = trainer.default_root_dir or "."
        if trainer.logger is None or trainer.logger is True:
            trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=root),
            )
        for callback in trainer.callbacks or []:
            init_args = callback.get("init_args")
            if (
                callback.class_path.endswith(".ModelCheckpoint")
                and init_args.get("dirpath") is None
            ):
                init_args.dirpath = os.path.join(root, "checkpoints")


def _spec(data: PinSageDataModule) -> dict:
    return data.feature_spec


def _num_pins(data: PinSageDataModule) -> int:
    return data.num_pins


def _num_boards(data: PinSageDataModule) -> int:
    return data.num_boards


DESCRIPTION = (
    "PinSage on DGL. Subcommands fit, validate, test, predict (LightningCLI), and "
    "recommend, embed, index (pinsage recommend --help, and so on)."
)


def _cli(args: list[str] | None, run: bool = True, cli: type = PinSageCLI) -> PinSageCLI:
    return cli(
        PinSageModule,
        PinSageDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION},
        args=args,
        run=run,
    )


class _ParseOnly(PinSageCLI):
    def instantiate_classes(self) -> None:
        """Nothing: parsing alone checks that every option exists."""


def check_config(args: list[str]) -> dict:
    """Parse the options of ``pinsage fit`` and the like, without the subcommand
    (``--config`` files stack), building nothing: an option that does not exist, or a
    value of the wrong type, exits with a message naming it. Returns the parsed
    configuration as a dict."""
    return _cli(args, run=False, cli=_ParseOnly).config.as_dict()


def _load_trained(args: list[str], ckpt_path: str) -> tuple[PinSageModule, PinSageDataModule]:
    with warnings.catch_warnings():  # args are passed on purpose: ours were parsed off first
        warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter")
        cli = _cli(args, run=False)
    try:
        # weights_only: a checkpoint from a stranger cannot run pickled code here
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        cli.model.load_state_dict(checkpoint["state_dict"])
    except FileNotFoundError:
        sys.exit(f"pinsage: checkpoint not found: {ckpt_path}")
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, TypeError) as err:
        sys.exit(
            f"pinsage: cannot use checkpoint {ckpt_path}: truncated, not a pinsage-dgl "
            f"checkpoint, or holds objects other than weights ({str(err).splitlines()[0]})"
        )
    cli.datamodule.setup("predict")
    return cli.model, cli.datamodule


def _saved_index(path: str) -> Index:
    """The index saved at ``path`` (a clear exit where it is missing or damaged)."""
    try:
        return load_index(path)
    except FileNotFoundError:
        sys.exit(f"pinsage recommend: index not found: {path}")
    except IndexFileError as err:
        sys.exit(f"pinsage recommend: {err}")


def recommend(argv: list[str]) -> None:
    """``pinsage recommend``: top-k pins for pins, boards and new pins, from a checkpoint."""
    parser = argparse.ArgumentParser(prog="pinsage recommend", description=recommend.__doc__)
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--pins", nargs="*", default=[], help="raw pin ids")
    parser.add_argument("--boards", nargs="*", default=[], help="raw board ids")
    parser.add_argument(
        "--new-pins",
        help="table (Parquet/CSV/TSV) of pins not in the graph, with the graph's feature "
        "columns: recommended from their features alone (cold start)",
    )
    parser.add_argument("--new-pin-col", default="pin", help="id column of --new-pins")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--index", help="a saved index (pinsage index) to search instead of building one"
    )
    parser.add_argument(
        "--index-kind",
        default="exact",
        choices=INDEX_KINDS,
        help="index built when --index is not given (default: exact search)",
    )
    ours, rest = parser.parse_known_args(argv)
    if not ours.pins and not ours.boards and not ours.new_pins:
        parser.error("give --pins, --boards and/or --new-pins")
    if ours.k < 1:
        parser.error(f"--k must be >= 1, got {ours.k}")
    model, data = _load_trained(rest, ours.ckpt_path)
    graph = data.split.train
    try:
        pins = graph.pin_index(ours.pins) if ours.pins else torch.empty(0, dtype=torch.int64)
        boards = (
            graph.board_index(ours.boards) if ours.boards else torch.empty(0, dtype=torch.int64)
        )
    except KeyError as err:
        sys.exit(f"pinsage recommend: {err.args[0]}")
    new_table, new_features = None, None
    if ours.new_pins:
        if len(graph.pin_spec) == 0:
            sys.exit("pinsage recommend: these pins have no features, so new pins have no input")
        try:
            new_table = read_table(ours.new_pins)
            new_features = graph.pin_spec.encode(new_table, ours.new_pins)
        except (OSError, ValueError) as err:
            sys.exit(f"pinsage recommend: {err}")
    try:
        searched = _saved_index(ours.index) if ours.index else ours.index_kind
        recommender = model.recommender(searched, data.training_graph)
    except ValueError as err:  # an index of another model's vectors
        sys.exit(f"pinsage recommend: {ours.index}: {err}")
    titles = graph.pin_titles

    def show(heading: str, scores: torch.Tensor, ids: torch.Tensor) -> None:
        print(f"\n{heading}")
        for rank, (score, pin) in enumerate(zip(scores.tolist(), ids.tolist(), strict=True), 1):
            if pin < 0:
                break
            title = f"  {titles[pin]}" if titles is not None else ""
            print(f"  {rank:>3}. {graph.pin_ids[pin]!s:<12} {score:6.3f}{title}")

    if len(pins):
        scores, ids = recommender.pins(pins, ours.k)
        for row, (raw, pin) in enumerate(zip(ours.pins, pins.tolist(), strict=True)):
            title = f": {titles[pin]}" if titles is not None else ""
            show(f"pin {raw}{title}", scores[row], ids[row])
    if len(boards):
        scores, ids = recommender.boards(boards, ours.k)
        sizes = recommender.histories.indptr[boards + 1] - recommender.histories.indptr[boards]
        for row, raw in enumerate(ours.boards):
            show(f"board {raw} ({int(sizes[row])} training pins)", scores[row], ids[row])
    if new_features is not None:
        scores, ids = recommender.new_pins(new_features, ours.k)
        names = (
            new_table[ours.new_pin_col].astype(str).tolist()
            if ours.new_pin_col in new_table.columns
            else [f"row {i}" for i in range(len(new_table))]
        )
        for row, name in enumerate(names):
            show(f"new pin {name}", scores[row], ids[row])


def embed(argv: list[str]) -> None:
    """``pinsage embed``: every pin's embedding and raw id to .npz or .parquet, atomically."""
    parser = argparse.ArgumentParser(prog="pinsage embed", description=embed.__doc__)
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--output", required=True, help="path of the .npz or .parquet to write")
    parser.add_argument("--batch-size", type=int, default=8192, help="pins per chunk")
    parser.add_argument(
        "--workdir", help="memory-map the layer tensors here (graphs whose layers exceed RAM)"
    )
    ours, rest = parser.parse_known_args(argv)
    if not ours.output.lower().endswith(EMBEDDING_FORMATS):
        parser.error(f"--output must end in {' or '.join(EMBEDDING_FORMATS)}")
    model, data = _load_trained(rest, ours.ckpt_path)
    embeddings = embed_all_pins(
        model.model,
        *data.training_graph.inference_inputs(progress=True),
        batch_size=ours.batch_size,
        progress=True,
        workdir=ours.workdir,
    )
    # what an index of this model must hold (with a popularity prior, one more column)
    embeddings = model.scorer(embeddings).index_items()
    save_embeddings(ours.output, embeddings, data.split.train.pin_ids)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {ours.output}")


def index(argv: list[str]) -> None:
    """``pinsage index``: a nearest-neighbour index of an embeddings file, saved atomically."""
    parser = argparse.ArgumentParser(prog="pinsage index", description=index.__doc__)
    parser.add_argument("--embeddings", required=True, help=".npz or .parquet of pinsage embed")
    parser.add_argument("--output", required=True, help="path of the index (.npz) to write")
    parser.add_argument("--kind", default="hnsw", choices=[k for k in INDEX_KINDS if k != "exact"])
    parser.add_argument("--nlist", type=int, help="IVF lists (default 4 sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF lists searched per query")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=128)
    ours = parser.parse_args(argv)
    try:
        embeddings, _ = load_embeddings(ours.embeddings)
        built = build_index(
            embeddings,
            ours.kind,
            nlist=ours.nlist,
            nprobe=ours.nprobe,
            hnsw_m=ours.hnsw_m,
            ef_construction=ours.ef_construction,
            ef_search=ours.ef_search,
        )
    except FileNotFoundError:
        sys.exit(f"pinsage index: embeddings not found: {ours.embeddings}")
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"pinsage index: {ours.embeddings}: {err}")
    built.save(ours.output)
    print(f"wrote a {ours.kind} index of {built.num_items} x {built.dim} to {ours.output}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pinsage`` console script."""
    args = sys.argv[1:] if argv is None else argv
    commands = {"recommend": recommend, "embed": embed, "index": index}
    if args and args[0] in commands:
        commands[args[0]](args[1:])
    else:
        _cli(argv)  # None: LightningCLI reads sys.argv itself


if __name__ == "__main__":
    main()
