"""Every config runs (fast_dev_run) through the `pinsage` CLI; recommend and embed work."""

from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules import make_synthetic
from pinsage_dgl.cli import main
from pinsage_dgl.inference import load_embeddings
from tests.conftest import DATA

CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
SMALL_SYNTHETIC = [
    "--data.init_args.num_pins=400",
    "--data.init_args.num_boards=150",
    "--data.init_args.num_topics=4",
]


def config_data(config: Path) -> Path | None:
    for line in config.read_text().splitlines():
        if line.strip().startswith("path:"):
            return DATA / Path(line.split(":", 1)[1].strip()).name
    return None


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_fast_dev_run_of_every_config(config, tmp_path):
    data = config_data(config)
    if data is not None and not data.exists():
        pytest.skip(f"real data {data} is absent (see ../shared/data/README.md)")
    extra = SMALL_SYNTHETIC if config.stem == "synthetic" else ["--data.init_args.num_workers=0"]
    if config.stem == "table":  # the user's own files: here, a small synthetic table
        interactions, pins = make_synthetic(num_pins=300, num_boards=100, num_topics=4)
        interactions.to_parquet(tmp_path / "saves.parquet")
        pins.to_csv(tmp_path / "pins.csv", index=False)
        extra += [
            f"--data.init_args.interactions={tmp_path / 'saves.parquet'}",
            "--data.init_args.timestamp_col=timestamp",
            f"--data.init_args.pin_features={tmp_path / 'pins.csv'}",
            '--data.init_args.pin_feature_columns={"text": "text", "visual_0": "numeric"}',
            "--data.init_args.pin_title_col=title",
        ]
    main(
        [
            "fit",
            "--config",
            str(config),
            "--trainer.fast_dev_run=2",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.logger=false",
            "--trainer.callbacks=null",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def synthetic_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    main(
        [
            "fit",
            "--config",
            "configs/synthetic.yaml",
            "--trainer.max_epochs=1",
            f"--trainer.default_root_dir={root}",
            "--trainer.logger=false",
            "--trainer.callbacks=null",
            "--trainer.limit_train_batches=5",
            *SMALL_SYNTHETIC,
        ]
    )
    return next(root.rglob("*.ckpt"))


def from_checkpoint(command: str, checkpoint: Path, *args: str) -> None:
    """Run ``pinsage <command>`` on the small synthetic config and a trained checkpoint."""
    main(
        [
            command,
            "--config",
            "configs/synthetic.yaml",
            "--ckpt_path",
            str(checkpoint),
            *args,
            *SMALL_SYNTHETIC,
        ]
    )


def test_recommend_prints_titles_for_pins_and_boards(synthetic_checkpoint, capsys):
    from_checkpoint("recommend", synthetic_checkpoint, "--pins", "p1", "--boards", "b3", "--k", "3")
    out = capsys.readouterr().out
    assert "pin p1: topic" in out and "board b3" in out
    assert out.count("  1. ") == 2 and out.count("  3. ") == 2 and "  4. " not in out


def test_recommend_unknown_pin_is_a_clear_error(synthetic_checkpoint):
    with pytest.raises(SystemExit, match="unknown pin id 'nope'"):
        from_checkpoint("recommend", synthetic_checkpoint, "--pins", "nope")


def test_embed_writes_every_pin_atomically(synthetic_checkpoint, tmp_path):
    out = tmp_path / "emb.npz"
    from_checkpoint("embed", synthetic_checkpoint, "--output", str(out))
    emb, ids = load_embeddings(out)
    assert emb.shape[0] == len(ids) and len(set(ids.tolist())) == len(ids)
    # the config's model has a popularity prior: unit-norm embeddings, then the prior
    # w log(1 + saves) as the column an index serves (one value per save count)
    assert emb.shape[1] == 64 + 1
    assert np.allclose(emb[:, :-1].norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert 1 < len(set(emb[:, -1].tolist())) <= 100
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npz"]


def test_predict_returns_an_embedding_per_pin(tmp_path):
    from lightning.pytorch.cli import LightningCLI  # noqa: F401  (predict goes through it)

    from pinsage_dgl.cli import _cli

    cli = _cli(
        [
            "--config",
            "configs/synthetic.yaml",
            "--trainer.logger=false",
            "--trainer.callbacks=null",
            f"--trainer.default_root_dir={tmp_path}",
            *SMALL_SYNTHETIC,
        ],
        run=False,
    )
    chunks = cli.trainer.predict(cli.model, cli.datamodule)
    assert sum(len(c) for c in chunks) == cli.datamodule.num_pins


def test_recommend_for_new_pins_through_a_saved_index(synthetic_checkpoint, tmp_path, capsys):
    _, pins = make_synthetic(num_pins=400, num_boards=150, num_topics=4)
    new = pins.head(2).assign(pin=["fresh-a", "fresh-b"]).drop(columns=["title"])
    new.to_csv(tmp_path / "new.csv", index=False)
    emb = tmp_path / "emb.parquet"
    from_checkpoint("embed", synthetic_checkpoint, "--output", str(emb))
    main(["index", "--embeddings", str(emb), "--kind", "hnsw", "--output", str(tmp_path / "i.npz")])
    capsys.readouterr()
    from_checkpoint(
        "recommend",
        synthetic_checkpoint,
        "--new-pins",
        str(tmp_path / "new.csv"),
        "--boards",
        "b3",
        "--index",
        str(tmp_path / "i.npz"),
        "--k",
        "4",
    )
    out = capsys.readouterr().out
    assert "new pin fresh-a" in out and "new pin fresh-b" in out and "board b3" in out
    assert out.count("  4. ") == 3 and "  5. " not in out


def test_recommend_with_an_index_of_other_embeddings_is_refused(synthetic_checkpoint, tmp_path):
    from pinsage_dgl.inference import save_embeddings

    save_embeddings(tmp_path / "other.npz", torch.randn(10, 4), np.arange(10))
    main(
        [
            "index",
            "--embeddings",
            str(tmp_path / "other.npz"),
            "--kind",
            "flat",
            "--output",
            str(tmp_path / "i.npz"),
        ]
    )
    with pytest.raises(SystemExit, match="indexes 10 x 4 vectors"):
        from_checkpoint(
            "recommend", synthetic_checkpoint, "--pins", "p1", "--index", str(tmp_path / "i.npz")
        )
    with pytest.raises(SystemExit, match="not found"):
        main(["index", "--embeddings", str(tmp_path / "nope.npz"), "--output", "x.npz"])


def test_recommend_new_pins_missing_a_feature_column_is_named(synthetic_checkpoint, tmp_path):
    _, pins = make_synthetic(num_pins=400, num_boards=150, num_topics=4)
    pins.head(2).drop(columns=["text"]).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(SystemExit, match="missing feature column 'text'"):
        from_checkpoint("recommend", synthetic_checkpoint, "--new-pins", str(tmp_path / "new.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--config", "configs/synthetic.yaml", "--model.hidden_size=3"], "hidden_size"),
        (["recommend", "--ckpt_path", "x.ckpt", "--pins", "p1", "--k", "0"], "--k must be >= 1"),
        (["recommend", "--ckpt_path", "x.ckpt"], "give --pins, --boards and/or --new-pins"),
        (["embed", "--ckpt_path", "x.ckpt", "--output", "emb.csv"], "--output must end in"),
        (["index", "--embeddings", "e.npz", "--output", "i.npz", "--kind", "annoy"], "annoy"),
    ],
    ids=["unknown config key", "k = 0", "nothing to recommend", "embed format", "index kind"],
)
def test_bad_cli_arguments_are_named(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code != 0
    assert message in capsys.readouterr().err


def test_missing_checkpoint_is_named():
    with pytest.raises(SystemExit, match=r"checkpoint not found: nope\.ckpt"):
        from_checkpoint("embed", Path("nope.ckpt"), "--output", "emb.npz")


def test_tampered_or_truncated_checkpoints_are_refused(synthetic_checkpoint, tmp_path):
    import pickle

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(synthetic_checkpoint.read_bytes()[:1000])
    with pytest.raises(SystemExit, match=r"cannot use checkpoint .*truncated\.ckpt"):
        from_checkpoint("embed", truncated, "--output", str(tmp_path / "e.npz"))
    # a pickle that would run code on load: weights_only refuses it, nothing runs
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        pickle.dump(SystemExit, f)  # any global beyond plain tensors and containers
    with pytest.raises(SystemExit, match="holds objects other than weights"):
        from_checkpoint("embed", evil, "--output", str(tmp_path / "e.npz"))
    assert not (tmp_path / "e.npz").exists()
