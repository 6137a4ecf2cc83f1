"""Every config, and every stack of configs the README documents, sets options that exist."""

import inspect
import re
from pathlib import Path

import pytest

from benchmarks.methods import METHODS
from pinsage_dgl.cli.lightning_cli import LINKED_MODEL_OPTIONS, check_config
from pinsage_dgl.lit import PinSageModule

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def documented_stacks() -> list[tuple[str, ...]]:
    """Each ``--config a.yaml --config b.yaml ...`` run of the README, as a tuple of paths."""
    found = re.findall(r"((?:--config configs/\S+\.yaml\s*)+)", (ROOT / "README.md").read_text())
    return sorted({tuple(re.findall(r"configs/\S+\.yaml", run)) for run in found})


def every_stack() -> list[tuple[str, ...]]:
    stacks = set(documented_stacks())
    for config in CONFIGS.glob("*.yaml"):
        stacks.add((f"configs/{config.name}",))
        if (CONFIGS / "tuned" / config.name).exists():  # the tuner's choice stacks on its data
            stacks.add((f"configs/{config.name}", f"configs/tuned/{config.name}"))
    for trainer in (CONFIGS / "trainer").glob("*.yaml"):
        stacks.add(("configs/synthetic.yaml", f"configs/trainer/{trainer.name}"))
    return sorted(stacks)


def test_the_readme_documents_stacks_and_every_config_is_covered():
    stacks = every_stack()
    assert len(documented_stacks()) >= 5  # the README's commands were found
    covered = {path for stack in stacks for path in stack}
    groups = set((CONFIGS / "model").glob("*.yaml"))  # included by configs, not stacked
    on_disk = {str(p.relative_to(ROOT)) for p in CONFIGS.rglob("*.yaml") if p not in groups}
    assert on_disk <= covered
    included = {
        line.split(":", 1)[1].strip()
        for c in CONFIGS.glob("*.yaml")
        for line in c.read_text().splitlines()
        if line.startswith("model:")
    }
    assert {f"model/{g.name}" for g in groups} <= included


@pytest.mark.parametrize("stack", every_stack(), ids=lambda s: "+".join(Path(p).stem for p in s))
def test_every_stack_parses(stack, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = []
    for path in stack:
        args += ["--config", path]
    config = check_config(args)
    assert config["data"]["class_path"].startswith("datamodules.")


def test_an_option_that_does_not_exist_is_refused_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  hiden_dim: 64\n")
    with pytest.raises(SystemExit):
        check_config(["--config", "configs/synthetic.yaml", "--config", str(typo)])
    assert "hiden_dim" in capsys.readouterr().err


def test_the_model_owns_its_depth_and_the_data_follows(monkeypatch):
    monkeypatch.chdir(ROOT)
    one = check_config(["--config", "configs/synthetic.yaml", "--model.num_layers", "1"])
    assert one["model"]["num_layers"] == 1 == one["data"]["init_args"]["num_layers"]
    # the tuned NCF model has one layer: its stack gives the data one hop too
    ncf = [
        "--config",
        "configs/ncf-movielens-1m.yaml",
        "--config",
        "configs/tuned/ncf-movielens-1m.yaml",
    ]
    tuned = check_config(ncf)
    assert tuned["model"]["num_layers"] == 1 == tuned["data"]["init_args"]["num_layers"]


def test_a_config_names_its_run_directory_once(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    config = check_config(["--config", "configs/synthetic.yaml"])
    assert config["trainer"]["logger"]["init_args"]["save_dir"] == "runs/synthetic"
    assert config["trainer"]["callbacks"][0]["init_args"]["dirpath"] == "runs/synthetic/checkpoints"
    root, quiet = f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"
    moved = check_config(["--config", "configs/synthetic.yaml", root, quiet])
    assert moved["trainer"]["logger"] is False  # an explicit choice is kept
    assert moved["trainer"]["callbacks"][0]["init_args"]["dirpath"] == f"{tmp_path}/checkpoints"


def documented_options() -> list[str]:
    """Each ``--model.x`` / ``--data.init_args.x`` option the README names (its options
    table abbreviates a group's second option as ``.negatives.num_random``)."""
    text = (ROOT / "README.md").read_text()
    full = re.findall(r"--((?:model|data\.init_args)\.[a-z_.]*[a-z_])", text)
    short = re.findall(r"`\.((?:task|negatives|neighborhood)\.[a-z_]+)`", text)
    return sorted({*full, *(f"data.init_args.{option}" for option in short)})


def test_every_option_the_readme_names_exists(monkeypatch):
    monkeypatch.chdir(ROOT)
    options = documented_options()
    assert "data.init_args.negatives.num_random" in options and len(options) > 20
    # every option filled in, for each datamodule (table options exist on the table's only)
    configs = [check_config(["--config", f"configs/{c.name}"]) for c in CONFIGS.glob("*.yaml")]

    def exists(config: dict, option: str) -> bool:
        for key in option.split("."):
            if not isinstance(config, dict) or key not in config:
                return False
            config = config[key]
        return True

    missing = [o for o in options if not any(exists(c, o) for c in configs)]
    assert not missing, f"the README names options that do not exist: {missing}"


DATASET_CONFIGS = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("config", DATASET_CONFIGS, ids=lambda p: p.stem)
def test_the_recipe_is_the_constructors_defaults(config, monkeypatch):
    # one home for the recipe: a dataset config names its data and training, not the model
    monkeypatch.chdir(ROOT)
    model = check_config(["--config", str(config.relative_to(ROOT))])["model"]
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(PinSageModule.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty and name not in LINKED_MODEL_OPTIONS
    }
    assert model == defaults
    # and the benchmark's PinSage rows set nothing of their own: the config and these
    assert METHODS["PinSage"].defaults == {}
