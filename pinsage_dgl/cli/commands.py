"""``pinsage recommend``, ``embed`` and ``index``: serving a trained checkpoint.

Each parses its own options before importing the model's stack, so ``--help`` and a bad
option answer without waiting for torch, DGL and Lightning.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from pinsage_dgl.retrieval import Index


def _saved_index(path: str) -> Index:
    """The index saved at ``path`` (a clear exit where it is missing or damaged)."""
    from pinsage_dgl.retrieval import IndexFileError, load_index

    try:
        return load_index(path)
    except FileNotFoundError:
        sys.exit(f"pinsage recommend: index not found: {path}")
    except IndexFileError as err:
        sys.exit(f"pinsage recommend: {err}")


def recommend(argv: list[str]) -> None:
    """``pinsage recommend``: top-k pins for pins, boards and new pins, from a checkpoint."""
    from pinsage_dgl.formats import INDEX_KINDS

    parser = _checkpoint_parser("recommend", recommend.__doc__)
    parser.add_argument("--pins", nargs="*", default=[], help="raw pin ids")
    parser.add_argument("--boards", nargs="*", default=[], help="raw board ids")
    parser.add_argument(
        "--new-pins",
        help="table (Parquet/CSV/TSV) of pins not in the graph, with the graph's feature "
        "columns: recommended from their features alone (cold start)",
    )
    parser.add_argument("--new-pin-col", default="pin", help="id column of --new-pins")
    parser.add_argument("--k", type=int, default=10, help="pins to recommend for each query")
    parser.add_argument(
        "--index", help="a saved index (pinsage index) to search instead of building one"
    )
    parser.add_argument(
        "--index-kind",
        default="exact",
        choices=INDEX_KINDS,
        help="index built when --index is not given (exact: exact search)",
    )
    ours, rest = _parse(parser, argv)
    if not ours.pins and not ours.boards and not ours.new_pins:
        parser.error("give --pins, --boards and/or --new-pins")
    if ours.k < 1:
        parser.error(f"--k must be >= 1, got {ours.k}")
    import torch

    from pinsage_dgl.cli.lightning_cli import load_trained
    from pinsage_dgl.graph import read_table

    model, data = load_trained(rest, ours.ckpt_path)
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
    parser = _checkpoint_parser("embed", embed.__doc__)
    parser.add_argument("--output", required=True, help="path of the .npz or .parquet to write")
    parser.add_argument("--batch-size", type=int, default=8192, help="pins per chunk")
    parser.add_argument(
        "--workdir", help="memory-map the layer tensors here (graphs whose layers exceed RAM)"
    )
    parser.add_argument(
        "--message-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="how neighbour messages are stored between a layer's halves (float16: half "
        "the bytes pooling gathers, ~1e-3 relative error; embeddings stay float32)",
    )
    ours, rest = _parse(parser, argv)
    from pinsage_dgl.formats import EMBEDDING_FORMATS

    if not ours.output.lower().endswith(EMBEDDING_FORMATS):
        parser.error(f"--output must end in {' or '.join(EMBEDDING_FORMATS)}")
    import torch

    from pinsage_dgl.cli.lightning_cli import load_trained
    from pinsage_dgl.inference import embed_all_pins, save_embeddings

    model, data = load_trained(rest, ours.ckpt_path)
    embeddings = embed_all_pins(
        model.model,
        *data.training_graph.inference_inputs(progress=True),
        batch_size=ours.batch_size,
        progress=True,
        workdir=ours.workdir,
        message_dtype=getattr(torch, ours.message_dtype),
    )
    # what an index of this model must hold (with a popularity prior, one more column)
    embeddings = model.scorer(embeddings, data.training_graph).index_items()
    save_embeddings(ours.output, embeddings, data.split.train.pin_ids)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {ours.output}")


def index(argv: list[str]) -> None:
    """``pinsage index``: a nearest-neighbour index of an embeddings file, saved atomically."""
    from pinsage_dgl.formats import INDEX_KINDS

    parser = argparse.ArgumentParser(
        prog="pinsage index",
        description=index.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--embeddings", required=True, help=".npz or .parquet of pinsage embed")
    parser.add_argument("--output", required=True, help="path of the index (.npz) to write")
    parser.add_argument(
        "--kind",
        default="hnsw",
        choices=[k for k in INDEX_KINDS if k != "exact"],
        help="flat: exact; ivf: inverted lists (k-means); hnsw: a navigable graph",
    )
    parser.add_argument("--nlist", type=int, help="IVF lists (default 4 sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF lists searched per query")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=200, help="HNSW build beam")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW search beam")
    ours, rest = _parse(parser, argv, configured=False)
    if rest:
        sys.exit(f"pinsage index: unknown argument {rest[0]} (pinsage index --help)")
    from pinsage_dgl.inference import load_embeddings
    from pinsage_dgl.retrieval import build_index

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
    print(f"wrote {ours.output}: {ours.kind} index of {built.num_items} x {built.dim} vectors")


# options a serving command passes on to the configuration of the model and its data
CONFIG_OPTIONS = ("--config", "--data", "--model", "--trainer", "--seed_everything")


def _parse(
    parser: argparse.ArgumentParser, argv: list[str], configured: bool = True
) -> tuple[argparse.Namespace, list]:
    """This command's options, and the configuration options it passes on (``configured``:
    a config is required); an option that is neither, and a config that is missing, exit
    in one line (with the nearest known option)."""
    from pinsage_dgl.cli.options import refuse_missing_configs, refuse_unknown_options

    known = re.findall(r"--[\w-]+", parser.format_help())
    passed_on = []  # the config options, each with its value where it has one
    for i, token in enumerate(argv):
        if token.split("=", 1)[0].startswith((*CONFIG_OPTIONS, "-c")):
            passed_on.append(token)
            if "=" not in token and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                passed_on.append(argv[i + 1])
    refuse_unknown_options("fit", passed_on, prog=parser.prog)  # they configure as fit's do
    for token in argv:
        name = token.split("=", 1)[0]
        if not name.startswith("--") or name.startswith(CONFIG_OPTIONS):
            continue
        if not any(option.startswith(name) for option in known):  # argparse takes prefixes
            close = difflib.get_close_matches(name, [*known, *CONFIG_OPTIONS], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            sys.exit(f"{parser.prog}: unknown option {name}{hint} ({parser.prog} --help)")
    if configured and not {"-h", "--help"} & set(argv):
        refuse_missing_configs(parser.prog, argv)
    return parser.parse_known_args(argv)


def _checkpoint_parser(command: str, description: str | None) -> argparse.ArgumentParser:
    """The parser of a command that loads a trained checkpoint with a config's data."""
    parser = argparse.ArgumentParser(
        prog=f"pinsage {command}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Also required: --config <the config the model was trained with> (configs "
        "stack, as for fit); --data.* options select and shape the data. The model's "
        "options come from the checkpoint (a --model.* option must agree with it).",
    )
    parser.add_argument(
        "--ckpt_path", required=True, help="a checkpoint written by pinsage fit (last.ckpt)"
    )
    return parser
