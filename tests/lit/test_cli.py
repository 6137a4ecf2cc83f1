"""Every config runs (fast_dev_run) through the `pinsage` CLI; recommend and embed work."""

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import make_synthetic
from pinsage_dgl.cli import main
from pinsage_dgl.cli.lightning_cli import check_config
from pinsage_dgl.cli.options import (
    SNAPSHOT,
    command_snapshot,
    read_snapshot,
    unknown_option,
    wrong_value,
)
from pinsage_dgl.inference import load_embeddings, save_embeddings
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


def tiny_fit(root: Path, *extra: str) -> Path | None:
    """``pinsage fit`` on the small synthetic graph, quietly, into ``root``; its checkpoint
    (None where it wrote none)."""
    main(
        [
            "fit",
            "--config",
            "configs/synthetic.yaml",
            f"--trainer.default_root_dir={root}",
            "--trainer.logger=false",
            *extra,
            *SMALL_SYNTHETIC,
        ]
    )
    return next(root.rglob("*.ckpt"), None)


@pytest.fixture(scope="module")
def synthetic_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    quick = ("--trainer.max_epochs=1", "--trainer.limit_train_batches=5")
    return tiny_fit(root, *quick, "--trainer.callbacks=null")


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
    # half-precision messages: the same embeddings to ~1e-3, the same ids
    half = tmp_path / "half.npz"
    from_checkpoint(
        "embed", synthetic_checkpoint, "--output", str(half), "--message-dtype", "float16"
    )
    emb_half, ids_half = load_embeddings(half)
    assert np.array_equal(ids_half, ids) and emb_half.dtype == emb.dtype
    assert np.allclose(emb_half.numpy(), emb.numpy(), atol=5e-3)


def test_predict_returns_an_embedding_per_pin(tmp_path):
    from lightning.pytorch.cli import LightningCLI  # noqa: F401  (predict goes through it)

    from pinsage_dgl.cli.lightning_cli import _cli

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
    # another model's vectors of the very same shape: refused by the index's probe
    from_checkpoint("embed", synthetic_checkpoint, "--output", str(tmp_path / "ours.npz"))
    ours, ids = load_embeddings(tmp_path / "ours.npz")
    save_embeddings(tmp_path / "theirs.npz", ours + 0.01 * torch.randn_like(ours), ids)
    theirs = tmp_path / "theirs.index.npz"
    main(["index", "--embeddings", str(tmp_path / "theirs.npz"), "--output", str(theirs)])
    with pytest.raises(SystemExit, match=r"theirs\.index\.npz: was built from other vectors"):
        from_checkpoint("recommend", synthetic_checkpoint, "--pins", "p1", "--index", str(theirs))
    with pytest.raises(SystemExit, match="not found"):
        main(["index", "--embeddings", str(tmp_path / "nope.npz"), "--output", "x.npz"])


def test_recommend_new_pins_missing_a_feature_column_is_named(synthetic_checkpoint, tmp_path):
    _, pins = make_synthetic(num_pins=400, num_boards=150, num_topics=4)
    pins.head(2).drop(columns=["text"]).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(SystemExit, match="missing feature column 'text'"):
        from_checkpoint("recommend", synthetic_checkpoint, "--new-pins", str(tmp_path / "new.csv"))


CONFIGURED = ["--config", "configs/synthetic.yaml", "--ckpt_path", "x.ckpt"]
RECOMMEND = ["recommend", *CONFIGURED]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--config", "configs/synthetic.yaml", "--model.hidden_size=3"], "hidden_size"),
        ([*RECOMMEND, "--pins", "p1", "--k", "0"], "--k must be >= 1"),
        (RECOMMEND, "give --pins, --boards and/or --new-pins"),
        (["embed", *CONFIGURED, "--output", "emb.csv"], "--output must end in"),
        (["index", "--embeddings", "e.npz", "--output", "i.npz", "--kind", "annoy"], "annoy"),
    ],
    ids=["unknown config key", "k = 0", "nothing to recommend", "embed format", "index kind"],
)
def test_bad_cli_arguments_are_named(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code != 0
    said = caught.value.code if isinstance(caught.value.code, str) else capsys.readouterr().err
    assert message in said


def test_missing_checkpoint_is_named():
    with pytest.raises(SystemExit, match=r"checkpoint not found: nope\.ckpt"):
        from_checkpoint("embed", Path("nope.ckpt"), "--output", "emb.npz")


def test_tampered_or_truncated_checkpoints_are_refused(synthetic_checkpoint, tmp_path):
    import pickle

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(synthetic_checkpoint.read_bytes()[:1000])
    # a pickle that would run code on load: not torch's archive, never unpickled
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        pickle.dump(SystemExit, f)
    # in an archive torch wrote: weights_only refuses it, nothing runs
    wrapped = tmp_path / "wrapped.ckpt"
    torch.save({"hyper_parameters": {}, "x": SystemExit}, wrapped)
    text, empty, config = tmp_path / "text.ckpt", tmp_path / "empty.ckpt", tmp_path / "c.yaml"
    text.write_text("hello\n")
    empty.write_bytes(b"")
    config.write_text(Path("configs/synthetic.yaml").read_text())
    not_ours = "is not a checkpoint written by pinsage fit"
    for path, reason in [
        (truncated, f"{not_ours} (truncated or damaged)"),
        (evil, f"{not_ours} (not a torch checkpoint)"),
        (text, f"{not_ours} (not a torch checkpoint)"),
        (empty, f"{not_ours} (not a torch checkpoint)"),
        (config, f"{not_ours} (not a torch checkpoint)"),
        (wrapped, "holds objects other than tensors and plain data (Unsupported"),
    ]:
        for command, extra in (("embed", ["--output", str(tmp_path / "e.npz")]), ("test", [])):
            with pytest.raises(SystemExit) as exited:
                from_checkpoint(command, path, *extra)
            assert str(exited.value).startswith("pinsage: ") and reason in str(exited.value)
            assert "weights_only" not in str(exited.value) and "\n" not in str(exited.value)
    assert not (tmp_path / "e.npz").exists()


class _RunsCode:
    """Unpickling this runs a shell command: what a checkpoint from a stranger could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_resuming_from_a_checkpoint_that_carries_code_refuses_it_and_runs_nothing(
    synthetic_checkpoint, tmp_path, capsys
):
    marker = tmp_path / "ran"
    checkpoint = torch.load(synthetic_checkpoint, map_location="cpu", weights_only=True)
    checkpoint["extra"] = _RunsCode(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    fit = ["fit", "--config", "configs/synthetic.yaml", "--ckpt_path", str(evil)]
    quiet = [f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    with pytest.raises(SystemExit, match=r"cannot load checkpoint .*evil\.ckpt: it holds objects"):
        main([*fit, *quiet, "--trainer.max_epochs=2", *SMALL_SYNTHETIC])
    # resuming a run (--ckpt_path last): Lightning's own loading refuses it too
    (tmp_path / "checkpoints").mkdir()
    evil.rename(tmp_path / "checkpoints" / "last.ckpt")
    fit[-1] = "last"
    with pytest.raises(SystemExit, match=r"cannot load checkpoint .*last\.ckpt: it holds objects"):
        main([*fit, *quiet, "--trainer.max_epochs=2", *SMALL_SYNTHETIC])
    assert not marker.exists()


@pytest.fixture(scope="module")
def narrow_checkpoint(tmp_path_factory):
    """A checkpoint of a model narrower than the config's recipe (hidden 16, output 8)."""
    root = tmp_path_factory.mktemp("narrow")
    return tiny_fit(
        root,
        "--model.hidden_dim=16",
        "--model.out_dim=8",
        "--trainer.max_steps=2",
        "--trainer.callbacks=null",
    )


def test_a_checkpoints_model_options_are_used_and_a_disagreeing_option_is_an_error(
    narrow_checkpoint, tmp_path
):
    # the config says 128/64; the checkpoint's own 16/8 build the model
    from_checkpoint("embed", narrow_checkpoint, "--output", str(tmp_path / "e.npz"))
    # 8 dimensions, plus the popularity prior's column (the recipe's)
    assert load_embeddings(tmp_path / "e.npz")[0].shape[1] == 8 + 1
    wrong = r"--model\.hidden_dim 64 disagrees with the checkpoint .* trained with 16"
    with pytest.raises(SystemExit, match=wrong):
        from_checkpoint("embed", narrow_checkpoint, "--output", "x.npz", "--model.hidden_dim=64")
    with pytest.raises(SystemExit, match=wrong):
        config = ["--config", "configs/synthetic.yaml", "--ckpt_path", str(narrow_checkpoint)]
        main(["test", *config, "--model.hidden_dim", "64", *SMALL_SYNTHETIC])
    # agreeing with it is fine
    from_checkpoint(
        "embed", narrow_checkpoint, "--output", str(tmp_path / "e.npz"), "--model.out_dim=8"
    )


def test_misspelt_or_absent_commands_get_one_line(capsys):
    commands = "commands: fit, validate, test, recommend, embed, index"
    for command, message in [
        ("fitt", f"pinsage: unknown command 'fitt'; did you mean fit? {commands}"),
        ("recomend", f"pinsage: unknown command 'recomend'; did you mean recommend? {commands}"),
        ("xyz", f"pinsage: unknown command 'xyz'; {commands}"),
        ("predict", "pinsage: predict is not a command: pinsage embed --output FILE writes"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main([command, "--config", "configs/synthetic.yaml"])
        assert str(exited.value).startswith(message)
    for args, message in [
        (
            ["recommend", "--pinz", "p1"],
            "pinsage recommend: unknown option --pinz; did you mean --pins?",
        ),
        (
            ["embed", "--outptu=e.npz"],
            "pinsage embed: unknown option --outptu; did you mean --output?",
        ),
    ]:
        with pytest.raises(SystemExit) as exited:
            main([*args, "--ckpt_path", "x.ckpt", "--config", "configs/synthetic.yaml"])
        assert str(exited.value).startswith(message)
    main(["--version"])
    assert re.fullmatch(r"pinsage \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_a_missing_checkpoint_is_named_by_every_command(tmp_path):
    for command in ("test", "validate", "fit"):
        with pytest.raises(SystemExit, match=r"checkpoint not found: nope\.ckpt"):
            main([command, "--config", "configs/synthetic.yaml", "--ckpt_path", "nope.ckpt"])


def table_fit(tmp_path: Path, train: str, *extra: str) -> None:
    main(
        [
            "fit",
            "--config",
            "configs/table.yaml",
            "--data.init_args.interactions",
            train,
            "--trainer.max_steps=1",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.logger=false",
            *extra,
        ]
    )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("null id", r"train\.csv: null id in column 'board' at row 2: \{'pin': 'c', 'board': nan"),
        ("bad weight", r"train\.csv: column 'w' needs finite non-negative weights .* at row 1"),
        ("bad test row", r"test\.csv: null id in column 'pin' at row 0"),
        ("bad feature", r"pins\.csv: .*'size'"),
        ("missing file", r"table not found: .*nope\.csv"),
    ],
)
def test_a_bad_input_file_through_the_cli_is_one_line_naming_file_column_and_row(
    tmp_path, fault, message
):
    train = pd.DataFrame({"pin": ["a", "b", "c", "a"], "board": ["x", "x", None, "y"]})
    train["w"] = [1.0, 1.0, 1.0, 1.0]
    extra = []
    if fault != "null id":
        train.loc[2, "board"] = "y"
    if fault == "bad weight":
        train.loc[1, "w"] = -2.0
        extra = ["--data.init_args.weight_col", "w"]
    if fault == "bad test row":
        pd.DataFrame({"pin": [None], "board": ["x"]}).to_csv(tmp_path / "test.csv", index=False)
        extra = ["--data.init_args.test_interactions", str(tmp_path / "test.csv")]
    if fault == "bad feature":
        pins = pd.DataFrame({"pin": ["a", "b", "c"], "size": ["1", "many", "3"]})
        pins.to_csv(tmp_path / "pins.csv", index=False)
        extra = [
            "--data.init_args.pin_features",
            str(tmp_path / "pins.csv"),
            "--data.init_args.pin_feature_columns",
            "{size: numeric}",
        ]
    train.to_csv(tmp_path / "train.csv", index=False)
    path = str(tmp_path / ("nope.csv" if fault == "missing file" else "train.csv"))
    with pytest.raises(SystemExit) as exit_:
        table_fit(tmp_path, path, *extra)
    assert isinstance(exit_.value.code, str) and "\n" not in exit_.value.code  # one line, exit 1
    assert re.search(message, exit_.value.code), exit_.value.code


def test_recommend_and_embed_reuse_the_config_that_fit_saved(tmp_path):
    tiny_fit(tmp_path, "--trainer.max_steps=2")
    saved = tmp_path / "config.yaml"
    assert "ckpt_path" in saved.read_text()  # fit's own keys, which used to be refused
    checkpoint = str(tmp_path / "checkpoints" / "last.ckpt")
    out = tmp_path / "e.npz"
    main(["embed", "--config", str(saved), "--ckpt_path", checkpoint, "--output", str(out)])
    assert load_embeddings(out)[0].shape[0] > 300


def test_fit_says_why_it_stopped_and_where_its_checkpoint_is_without_lightnings_noise(
    tmp_path, capfd, recwarn
):
    tiny_fit(tmp_path, "--trainer.max_steps=3", "--trainer.limit_val_batches=0")
    out, err = capfd.readouterr()
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"stopped by max_steps (3) after 3 steps; last checkpoint: {last}" in out
    # tips about other products, absent accelerators, a hook warning about our own design
    assert "Tip" not in out + err
    assert "available: False" not in out + err
    assert not [w for w in recwarn if "transfer_batch_to_device" in str(w.message)]


def test_fit_stopped_by_max_time_says_so(tmp_path, capfd):
    # a zero budget stops at once, whatever the machine's speed
    tiny_fit(tmp_path / "run", "--trainer.max_time=00:00:00:00", "--trainer.callbacks=null")
    assert "pinsage fit: stopped by max_time (0:00:00)" in capfd.readouterr().out


def test_table_config_trains_on_interactions_alone_and_without_ids_says_what_to_set(
    tmp_path, capsys
):
    interactions, _ = make_synthetic(num_pins=300, num_boards=100, num_topics=4)
    interactions[["pin", "board"]].to_parquet(tmp_path / "saves.parquet")
    table = [
        "fit",
        "--config",
        "configs/table.yaml",
        f"--data.init_args.interactions={tmp_path / 'saves.parquet'}",
        "--data.init_args.num_workers=0",
        "--trainer.fast_dev_run=2",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    main(table)  # no feature table: the recipe's per-pin id embeddings are the input
    with pytest.raises(SystemExit) as exited:
        main([*table, "--model.id_embedding=false"])
    assert str(exited.value) == (
        "pinsage: pins have no features and id embeddings are off: give a pin feature "
        "table or set id_embedding=True (pinsage: --model.id_embedding true)"
    )


def test_a_checkpoint_on_a_changed_table_maps_by_id_and_resuming_is_refused(tmp_path, capfd):
    interactions, _ = make_synthetic(num_pins=300, num_boards=100, num_topics=4)
    saves = interactions[["pin", "board"]].drop_duplicates()
    path = tmp_path / "saves.csv"
    saves.to_csv(path, index=False)
    table = [
        "--config",
        "configs/table.yaml",
        f"--data.init_args.interactions={path}",
        "--data.init_args.num_workers=0",
    ]
    run = [f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    main(["fit", *table, *run, "--trainer.max_steps=2", "--trainer.limit_val_batches=0"])
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    # the user's table changes: one pin is gone, another is new (the same pin count)
    gone = saves["pin"].iloc[0]
    kept = saves[saves["pin"] != gone]
    new = pd.DataFrame({"pin": "brand-new", "board": kept["board"].unique()[:3]})
    pd.concat([kept, new]).to_csv(path, index=False)
    capfd.readouterr()
    main(["recommend", *table, "--ckpt_path", str(checkpoint), "--pins", "brand-new", "--k", "3"])
    out, err = capfd.readouterr()
    assert (
        f"pinsage: {checkpoint}: trained on other data than this (pins: 1 new, 1 gone (first "
        "new: 'brand-new')): shared pins and boards keep their learned vectors by id"
    ) in err
    assert "pin brand-new" in out
    # Lightning's own loops (test, validate) load it the same way
    main(["test", *table, *run, "--ckpt_path", str(checkpoint)])
    assert "trained on other data than this (pins: 1 new, 1 gone" in capfd.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["fit", *table, *run, "--ckpt_path", str(checkpoint), "--trainer.max_steps=4"])
    assert str(exited.value) == (
        f"pinsage: {checkpoint}: trained on other data than this (pins: 1 new, 1 gone (first "
        "new: 'brand-new')); resuming training needs the same pins and boards: fit anew, or "
        "restore the data it was trained on"
    )


def test_damaged_or_too_small_tables_end_in_one_line(tmp_path):
    table = ["fit", "--config", "configs/table.yaml", "--data.init_args.num_workers=0"]
    run = [f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    good = pd.DataFrame({"pin": ["a", "b", "c"] * 4, "board": [1, 1, 2, 2, 3, 3] * 2})
    good.to_parquet(tmp_path / "saves.parquet")
    data = (tmp_path / "saves.parquet").read_bytes()
    (tmp_path / "damaged.parquet").write_bytes(data[: len(data) // 2])
    pd.DataFrame({"pin": ["a", "a"], "board": [1, 2]}).to_csv(tmp_path / "one.csv", index=False)
    for name, message in [
        ("damaged.parquet", f"pinsage: {tmp_path / 'damaged.parquet'}: cannot be read as a "),
        ("one.csv", f"pinsage: {tmp_path / 'one.csv'}: "),
    ]:
        with pytest.raises(SystemExit) as exited:
            main([*table, *run, f"--data.init_args.interactions={tmp_path / name}"])
        assert str(exited.value).startswith(message) and "\n" not in str(exited.value)


def test_ctrl_c_during_fit_says_what_was_saved_and_how_to_resume(tmp_path, capsys):
    interrupt = (
        "--trainer.callbacks+={class_path: tests.lit.crash.InterruptAtStep, init_args: {step: %d}}"
    )
    common = ("--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1")
    with pytest.raises(SystemExit):  # Lightning's own exit after a KeyboardInterrupt
        tiny_fit(tmp_path / "early", *common, "--trainer.max_epochs=3", interrupt % 1)
    assert (
        "pinsage fit: interrupted at step 1: no checkpoint was saved yet; the run starts "
        "again with the same command"
    ) in capsys.readouterr().out
    with pytest.raises(SystemExit):  # after the first epoch's checkpoint
        tiny_fit(tmp_path / "later", *common, "--trainer.max_epochs=3", interrupt % 3)
    last = tmp_path / "later" / "checkpoints" / "last.ckpt"
    assert (
        f"pinsage fit: interrupted at step 3: the last checkpoint is {last}; resume with the "
        "same command and --ckpt_path last"
    ) in capsys.readouterr().out


def test_a_second_fit_into_a_run_directory_says_it_replaces_the_checkpoints(tmp_path, capsys):
    quick = ("--trainer.max_steps=2", "--trainer.limit_val_batches=1")
    tiny_fit(tmp_path, *quick)
    assert "replaces" not in capsys.readouterr().out
    tiny_fit(tmp_path, *quick)
    assert (
        f"pinsage fit: {tmp_path / 'checkpoints'} holds 1 checkpoint(s) of an earlier run; this "
        "run replaces them (to continue that run: --ckpt_path last)"
    ) in capsys.readouterr().out


def test_test_and_validate_write_no_log_directory(synthetic_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Path(__file__).resolve().parents[2] / "configs" / "synthetic.yaml"
    for command in ("test", "validate"):
        main(
            [
                command,
                "--config",
                str(config),
                "--ckpt_path",
                str(synthetic_checkpoint),
                f"--trainer.default_root_dir={tmp_path}",
                "--trainer.limit_test_batches=1",
                "--trainer.limit_val_batches=1",
                *SMALL_SYNTHETIC,
            ]
        )
    assert list(tmp_path.iterdir()) == []


def test_help_says_where_the_data_options_are_without_markup(capsys):
    with contextlib.suppress(SystemExit):  # from the snapshot: no exit
        main(["fit", "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "usage: pinsage fit --config CONFIG [--config ...] [options]"
    assert "pinsage fit --data.help" in " ".join(lines[:6])
    with pytest.raises(SystemExit):
        main(["fit", "--data.help", "TableDataModule"])
    text = capsys.readouterr().out
    for option in ("pin_col", "board_col", "timestamp_col", "weight_col"):
        described = re.search(rf"--data\.{option} \S+\n\s+(\w.*)", text)
        assert described and not described.group(1).startswith("(type"), option
    assert "``" not in text and ":class:" not in text
    with pytest.raises(SystemExit):
        main(["recommend", "--help"])
    assert capsys.readouterr().out.count("default: exact") == 1


def test_fit_says_the_models_size_in_one_line_without_a_flops_column(tmp_path, capsys):
    tiny_fit(tmp_path, "--trainer.max_steps=1", "--trainer.limit_val_batches=0")
    out = capsys.readouterr().out
    assert re.search(
        r"pinsage fit: a model of [\d,]+ parameters \([\d,]+ trainable, [\d.]+ MB\)", out
    )
    assert "FLOPs" not in out


def test_the_option_snapshot_is_the_parsers():
    # pinsage fit|validate|test answer --help and bad options from it before importing
    # anything heavy: it must say what the parser says (make cli-options writes it again).
    # In a fresh interpreter, as the command runs: the help lists the subclasses of an
    # option's class imported so far (this one has run fits, which define an optimizer)
    code = (
        "import json\n"
        "from pinsage_dgl.cli.lightning_cli import option_snapshot\n"
        "print(json.dumps(option_snapshot()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    live = json.loads(run.stdout.splitlines()[-1])
    assert json.loads(SNAPSHOT.read_text()) == live, "run: make cli-options"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fit", "--config", "configs/synthetic.yaml", "--model.hiden=3"],
            "pinsage fit: unknown option --model.hiden; did you mean --model.hidden_dim? "
            "(pinsage fit --help)",
        ),
        (
            ["test", "-c", "configs/synthetic.yaml", "--data.init_args.batch_siz", "3"],
            "pinsage test: unknown option --data.init_args.batch_siz; did you mean "
            "--data.batch_size?",
        ),
        (
            ["validate", "--trainer.maxepochs", "3"],
            "pinsage validate: unknown option --trainer.maxepochs; did you mean "
            "--trainer.max_epochs?",
        ),
        (
            [*RECOMMEND, "--pins", "p1", "--data.pin_colum", "x"],
            "pinsage recommend: unknown option --data.pin_colum; did you mean --data.pin_col?",
        ),
        (["fit", "--config", "configs/nope.yaml"], "pinsage fit: config not found: configs/nope"),
        (["fit", "--trainer.max_epochs=1"], "pinsage fit: give --config CONFIG"),
        (["embed", "--ckpt_path", "x.ckpt", "--output", "e.npz"], "pinsage embed: give --config"),
    ],
    ids=["model", "data", "trainer", "serving", "missing config", "no config", "serving config"],
)
def test_bad_options_are_answered_from_the_snapshot(args, message):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert str(exited.value).startswith(message)


@pytest.mark.parametrize(
    "option",
    [
        "--model.hidden_dim=3",
        "--trainer.max_epoc",  # a prefix, as the parser takes it
        "--data.init_args.batch_size",
        "--data.batch_size",
        "--data.task.kin",  # a dataclass field's prefix
        "--data.class_path",
        "--trainer.logger.init_args.save_dir=x",  # below an option that takes a class
        "--trainer.callbacks+=EarlyStopping",
        "--optimizer.lr",
        "--print_config=skip_null",
        "--config=configs/synthetic.yaml",
        "-c",
        "configs/synthetic.yaml",
    ],
)
def test_options_the_parser_takes_pass_the_snapshot(option):
    assert unknown_option(option, command_snapshot("fit")) is None


def test_options_the_snapshot_refuses_the_parser_refuses_too(capsys):
    for option in ("--model.hiden", "--data.init_args.batch_siz", "--trainer.maxepochs"):
        assert unknown_option(option, command_snapshot("fit")) == option
        with pytest.raises(SystemExit):
            check_config(["--config", "configs/synthetic.yaml", option, "3"])
        assert option.split(".")[-1] in capsys.readouterr().err


def test_a_snapshot_of_other_versions_is_not_used(tmp_path):
    snapshot = json.loads(SNAPSHOT.read_text())
    snapshot["versions"]["lightning"] = "0.0.1"
    (tmp_path / "options.json").write_text(json.dumps(snapshot))
    assert read_snapshot(tmp_path / "options.json") is None
    (tmp_path / "options.json").write_text("{not json")
    assert read_snapshot(tmp_path / "options.json") is None
    assert read_snapshot(SNAPSHOT) is not None


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--trainer.max_epochs", "abc", "takes an integer (or null), got 'abc'"),
        ("--trainer.max_epochs", "3.5", "takes an integer (or null), got '3.5'"),
        ("--model.lr", "fast", "takes a number, got 'fast'"),
        ("--model.id_embedding", "maybe", "takes true or false (or null), got 'maybe'"),
        ("--data.init_args.batch_size", "x", "takes an integer, got 'x'"),
    ],
)
def test_a_value_of_the_wrong_type_is_answered_from_the_snapshot_as_the_parser_would(
    option, value, said, capsys
):
    config = ["--config", "configs/synthetic.yaml"]
    for args in ([*config, option, value], [*config, f"{option}={value}"]):
        with pytest.raises(SystemExit) as exited:
            main(["fit", *args])
        assert str(exited.value) == f"pinsage fit: {option} {said}"
    with pytest.raises(SystemExit):  # the parser refuses it too (slowly)
        check_config([*config, option, value])
    capsys.readouterr()


@pytest.mark.parametrize(
    "args",
    [
        ["--trainer.max_epochs", "null"],
        ["--trainer.max_epochs=7", "--trainer.max_steps", "-1"],
        ["--model.lr", "1e-3", "--model.dropout=0"],
        ["--model.id_embedding", "true", "--model.board_embedding", "False"],
        ["--trainer.limit_train_batches", "0.5", "--trainer.limit_val_batches", "3"],
        ["--data.init_args.batch_size", "64"],
    ],
)
def test_values_the_parser_takes_pass_the_snapshot(args):
    known = command_snapshot("fit")
    assert all(wrong_value(args, i, known) is None for i in range(len(args)))
    check_config(["--config", "configs/synthetic.yaml", *args])  # and the parser takes them


def test_a_data_option_typed_differently_by_two_datamodules_is_left_to_the_parser():
    # a switch of the synthetic data, a file of a user's table
    known = command_snapshot("fit")
    assert "--data.pin_features" not in known["types"]
    assert wrong_value(["--data.init_args.pin_features", "items.csv"], 0, known) is None


def test_options_changed_by_the_command_line_are_told_from_the_configs(tmp_path):
    from jsonargparse import Namespace
    from jsonargparse import Path as ConfigPath

    from pinsage_dgl.cli.lightning_cli import _changed_by_command_line

    base, tuned = tmp_path / "base.yaml", tmp_path / "tuned.yaml"
    base.write_text("model:\n  hidden_dim: 32\n  weight_decay: 1e-06\n")
    tuned.write_text("model:\n  hidden_dim: 48\ntrainer:\n  max_epochs: 2\n")
    configs = [ConfigPath(str(base), mode="fr"), ConfigPath(str(tuned), mode="fr")]
    # as the configs (stacked) and the defaults give them: nothing changed (YAML's "1e-06")
    parsed = Namespace(hidden_dim=48, weight_decay=1e-6, out_dim=64, lr=3e-3)
    assert _changed_by_command_line(parsed, configs) == set()
    # --model.hidden_dim 16 --model.out_dim 8: each differs from what the files and defaults say
    parsed = Namespace(hidden_dim=16, weight_decay=1e-6, out_dim=8, lr=3e-3)
    assert _changed_by_command_line(parsed, configs) == {"hidden_dim", "out_dim"}
    assert _changed_by_command_line(parsed, []) == {"hidden_dim", "weight_decay", "out_dim"}


def test_a_serving_commands_config_error_is_one_line_naming_the_key(tmp_path, capsys):
    from pinsage_dgl.cli.lightning_cli import parser_error_line, serving_parser

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("data:\n  init_args:\n    num_pins: abc\n")
    with pytest.raises(Exception) as raised:
        serving_parser().parse_args(["--config", "configs/synthetic.yaml", "--config", str(wrong)])
    line = parser_error_line(str(raised.value))
    assert line == "data.num_pins: Expected a <class 'int'>. Got value: abc"
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  hiden_dim: 3\n")
    unknown = r"^pinsage: Group 'model' does not accept option 'hiden_dim'$"
    with pytest.raises(SystemExit, match=unknown):
        main(["embed", "--config", "configs/synthetic.yaml", "--config", str(typo),
              "--ckpt_path", "x.ckpt", "--output", str(tmp_path / "e.npz")])  # fmt: skip
