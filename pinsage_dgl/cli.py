"""The ``pinsage`` command.

``pinsage fit|validate|test|predict --config configs/<name>.yaml`` are LightningCLI
subcommands (several ``--config`` files stack; any option can be overridden, e.g.
``--data.init_args.path /my/ml-1m``). Two more use the same configs:

- ``pinsage recommend --config C --ckpt_path K [--pins ID ...] [--boards ID ...] [--k 10]``
  prints the top-k pins for each pin or board, with raw ids and titles;
- ``pinsage embed --config C --ckpt_path K --output emb.npz`` writes every pin's
  embedding with its raw id, atomically.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch
from lightning.pytorch.cli import LightningCLI

from datamodules.base import PinSageDataModule
from pinsage_dgl.evaluation import BoardHistories
from pinsage_dgl.inference import embed_all_pins, save_embeddings
from pinsage_dgl.lit import PinSageModule


class PinSageCLI(LightningCLI):
    """LightningCLI with the data's sizes linked into the model."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.init_args.num_layers", "model.num_layers", apply_on="parse")
        parser.link_arguments("data", "model.pin_spec", compute_fn=_spec, apply_on="instantiate")
        parser.link_arguments(
            "data", "model.num_pins", compute_fn=_num_pins, apply_on="instantiate"
        )


def _spec(data: PinSageDataModule) -> dict:
    return data.feature_spec


def _num_pins(data: PinSageDataModule) -> int:
    return data.num_pins


DESCRIPTION = (
    "PinSage on DGL. Subcommands fit, validate, test, predict (LightningCLI), and "
    "recommend, embed (pinsage recommend --help, pinsage embed --help)."
)


def _cli(args: list[str] | None, run: bool = True) -> PinSageCLI:
    return PinSageCLI(
        PinSageModule,
        PinSageDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION},
        args=args,
        run=run,
    )


def _load_trained(args: list[str], ckpt_path: str) -> tuple[PinSageModule, PinSageDataModule]:
    with warnings.catch_warnings():  # args are passed on purpose: ours were parsed off first
        warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter")
        cli = _cli(args, run=False)
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        sys.exit(f"pinsage: checkpoint not found: {ckpt_path}")
    cli.model.load_state_dict(checkpoint["state_dict"])
    cli.datamodule.setup("predict")
    return cli.model, cli.datamodule


def _embed_all(model: PinSageModule, data: PinSageDataModule) -> torch.Tensor:
    return embed_all_pins(model.model, *data.inference_inputs(progress=True), progress=True)


def recommend(argv: list[str]) -> None:
    """``pinsage recommend``: top-k pins for pins and boards, from a checkpoint."""
    parser = argparse.ArgumentParser(prog="pinsage recommend", description=recommend.__doc__)
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--pins", nargs="*", default=[], help="raw pin ids")
    parser.add_argument("--boards", nargs="*", default=[], help="raw board ids")
    parser.add_argument("--k", type=int, default=10)
    ours, rest = parser.parse_known_args(argv)
    if not ours.pins and not ours.boards:
        parser.error("give --pins and/or --boards")
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
    # the module's own board query (recency by default), as in its evaluation
    scorer = model.scorer(_embed_all(model, data))
    histories = BoardHistories(graph)
    titles = graph.pin_titles

    def show(kind: str, raw: str, scores: torch.Tensor, exclude: torch.Tensor) -> None:
        scores = scores.clone()
        scores[exclude] = float("-inf")
        top_scores, top = torch.topk(scores, min(ours.k, len(scores)))
        print(
            f"\n{kind} {raw}"
            + (
                f": {titles[graph.pin_index([raw])[0]]}"
                if kind == "pin" and titles is not None
                else ""
            )
        )
        for rank, (score, pin) in enumerate(zip(top_scores.tolist(), top.tolist(), strict=True), 1):
            title = f"  {titles[pin]}" if titles is not None else ""
            print(f"  {rank:>3}. {graph.pin_ids[pin]!s:<12} {score:6.3f}{title}")

    for raw, pin in zip(ours.pins, pins.tolist(), strict=True):
        show("pin", raw, scorer.score_pins(torch.tensor([pin]))[0], torch.tensor([pin]))
    for raw, board in zip(ours.boards, boards.tolist(), strict=True):
        history = histories(torch.tensor([board]))
        print(f"\n(board {raw} has {len(history.pins)} training pins)", end="")
        show("board", raw, scorer.score_boards(history)[0], history.pins)


def embed(argv: list[str]) -> None:
    """``pinsage embed``: every pin's embedding and raw id to an .npz file, atomically."""
    parser = argparse.ArgumentParser(prog="pinsage embed", description=embed.__doc__)
    parser.add_argument("--ckpt_path", required=True)
    parser.add_argument("--output", required=True, help="path of the .npz to write")
    ours, rest = parser.parse_known_args(argv)
    model, data = _load_trained(rest, ours.ckpt_path)
    embeddings = _embed_all(model, data)
    save_embeddings(ours.output, embeddings, data.graph.pin_ids)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {ours.output}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pinsage`` console script."""
    args = sys.argv[1:] if argv is None else argv
    commands = {"recommend": recommend, "embed": embed}
    if args and args[0] in commands:
        commands[args[0]](args[1:])
    else:
        _cli(argv)  # None: LightningCLI reads sys.argv itself


if __name__ == "__main__":
    main()
