"""The README's Python snippets and its ``pinsage`` commands run as written."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datamodules import make_synthetic

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block(first_line: str) -> str:
    """The README's Python block whose code includes ``first_line``."""
    found = [b for b in BLOCKS if first_line in b]
    assert len(found) == 1, f"no single README block with {first_line!r}"
    return found[0]


@pytest.mark.slow
def test_the_evaluation_serving_and_step_by_step_snippets_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets write emb.parquet and pins.index.npz
    namespace: dict = {}
    exec(block("histories = data.test_histories()"), namespace)  # defines data, model
    exec(block("recommender = model.recommender("), namespace)
    # the step-by-step block, up to its Ray part (an optional extra, tested elsewhere)
    steps = block("emb = embed_all_pins(model.model")
    exec(steps.split("# the same embeddings from a Ray")[0], namespace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.parquet", "pins.index.npz"]
    assert namespace["scores"].shape == (3, 10)  # the three new pins' top 10


@pytest.mark.slow
def test_the_ray_snippets_run_as_written_and_give_the_same_embeddings(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'ray[data]'")
    import torch

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block("histories = data.test_histories()"), namespace)
    exec(block("recommender = model.recommender("), namespace)
    one_process, on_ray = block("emb = embed_all_pins(model.model").split(
        "# the same embeddings from a Ray"
    )
    exec(one_process, namespace)
    expected = namespace["emb"]
    try:
        exec("# the same embeddings from a Ray" + on_ray, namespace)
    finally:
        ray.shutdown()
    assert torch.allclose(namespace["emb"], expected, atol=1e-6)
    # the walkers' table is the training table (same seed, shards of its chunk size)
    neighbors, _ = namespace["table"]
    assert torch.equal(torch.from_numpy(neighbors.to_array()), namespace["neighbors"])


# --- the README's shell commands ---------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# commands not run here, and why (every other `pinsage` line of the README runs below)
NOT_RUN = {
    "--config configs/trainer/ddp.yaml": "needs GPUs (NCCL); ddp_cpu.yaml runs the same path",
}
# options a command gets here so it runs on small data in seconds: the datasets' own
# configs read ../shared/data (the data stays as it is; training and scoring are cut short)
SMALL_SYNTHETIC = (
    "--data.init_args.num_pins=400",
    "--data.init_args.num_boards=150",
    "--data.init_args.num_topics=4",
)
SHORT_FIT = (
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=2",
    "--trainer.enable_progress_bar=false",
)
SHORT_TEST = ("--trainer.limit_test_batches=2", "--trainer.enable_progress_bar=false")


def readme_commands() -> list[str]:
    """Every ``pinsage`` command of the README's bash blocks, continuation lines joined
    and comments dropped, in the README's order."""
    commands = []
    for text in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("pinsage "):
                commands.append(line)
    return commands


def small(command: str) -> list[str]:
    """``command`` as arguments, with the options that keep it small (see above)."""
    args = shlex.split(command.replace("/data/ml-100k", "../shared/data/movielens-100k"))
    verb = args[1]
    extra: list[str] = []
    if "configs/synthetic.yaml" in args:
        extra += SMALL_SYNTHETIC
    elif "--config" in args:
        extra.append("--data.init_args.num_workers=0")
    extra += SHORT_FIT if verb == "fit" else SHORT_TEST if verb == "test" else ()
    return [*args, *extra]


def user_files(cwd: Path) -> None:
    """The files of your own that the README's commands name, small and synthetic."""
    interactions, pins = make_synthetic(num_pins=300, num_boards=100, num_topics=4)
    interactions.rename(columns={"pin": "item", "board": "user", "timestamp": "ts"}).to_parquet(
        cwd / "saves.parquet"
    )
    items = pins.assign(item=pins["pin"], genre="topic " + pins["topic"].astype(str))
    # a catalogue larger than its saves: 50 items nobody saved yet (kept as cold-start pins)
    unsaved = pd.DataFrame(
        {"item": [f"new{i}" for i in range(50)], "title": "unsaved item", "genre": "topic 0"}
    )
    pd.concat([items[["item", "title", "genre"]], unsaved]).to_csv(cwd / "items.csv", index=False)
    # new pins for `recommend --new-pins`: the synthetic graph's feature columns only
    _, new = make_synthetic(num_pins=3, num_boards=2, num_topics=2)
    new.drop(columns=["pin"]).to_csv(cwd / "new_pins.csv", index=False)


@pytest.mark.slow
@pytest.mark.realdata
def test_every_pinsage_command_of_the_readme_runs_in_order_on_small_data(tmp_path):
    if not (SHARED / "data" / "movielens-100k").exists():
        pytest.skip(f"real data is absent: {SHARED / 'data'} (see its README.md)")
    commands = readme_commands()
    assert len(commands) == 13, commands  # a new command in the README: run it here too
    cwd = tmp_path / "project"  # the README's commands run from a checkout: configs/, ../shared
    cwd.mkdir()
    (cwd / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "shared").symlink_to(SHARED)
    user_files(cwd)
    pinsage = str(Path(sys.executable).parent / "pinsage")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in commands:
        if any(marker in command for marker in NOT_RUN):
            continue
        args = [pinsage, *small(command)[1:]]
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        if "items.csv" in command:
            assert "items.csv: 50 pins with features but no save" in done.stderr
        if args[1] == "recommend":
            assert "  1. " in done.stdout, done.stdout  # ranked pins were printed
    assert (cwd / "emb.parquet").exists() and (cwd / "pins.index.npz").exists()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", ["README.md", "benchmarks/README.md"])
def test_every_relative_link_of_the_readmes_reaches_a_file_and_heading(page):
    path = ROOT / page
    text = path.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links, page
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{page}: link to a missing file {link}"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", file.read_text(), re.M)
            assert anchor in {_anchor(h) for h in headings}, f"{page}: no heading for {link}"
