"""The package's front: lazy names, and help that does not wait for torch, DGL, Lightning."""

import importlib
import subprocess
import sys

import pytest

import pinsage_dgl

HEAVY = ("torch", "dgl", "lightning", "pandas")


def test_every_public_name_is_its_home_modules_object():
    assert sorted(pinsage_dgl.__all__) == sorted(pinsage_dgl._HOMES)
    for name, home in pinsage_dgl._HOMES.items():
        module = importlib.import_module(f"pinsage_dgl.{home}")
        assert getattr(pinsage_dgl, name) is getattr(module, name)
    assert set(pinsage_dgl.__all__) <= set(dir(pinsage_dgl))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'PinSage'"):
        pinsage_dgl.PinSage  # noqa: B018  (it lives in pinsage_dgl.nn)


CONFIG = ["--config", "configs/synthetic.yaml"]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["embed", "--help"],
        ["fit", "--help"],
        ["test", "-h"],
        ["fit", *CONFIG, "--model.hiden", "3"],
        ["validate", *CONFIG, "--trainer.max_epoch=3", "--trainer.devise", "1"],
        ["fit", "--config", "nope.yaml"],
        ["test", "--trainer.max_epochs", "1"],
        ["recommend", *CONFIG, "--ckpt_path", "x.ckpt", "--pins", "1", "--data.pin_colum", "x"],
    ],
)
def test_package_import_help_and_bad_options_import_nothing_heavy(args):
    # in a fresh interpreter: this one has imported everything already
    code = (
        "import sys\n"
        "from pinsage_dgl.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exited:\n    print(exited)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[-1] == "[]"
    assert "pinsage" in run.stdout
