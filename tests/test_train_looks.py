"""The across-looks UNet candidate's data (docs/MODELS.md): groups of chosen look families
(`python -m poemap.sim dataset --look random:FAM,FAM,...`) and several data roots pooled for one run
(`train_unet.py --extra-data`)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import train_unet
from poemap import datadir
from poemap.sim.__main__ import main
from poemap.sim.dataset import look_families, write_dataset
from poemap.usererror import UserError
from tests.test_train import UNET_MICRO, make_tiny_data
from training.unetdata import load_group_roots


def test_look_families_parses_and_refuses():
  assert look_families("random") == [] and look_families("mixed") == [] and look_families("spells") == []
  assert look_families("random:spells, multicolour,spells") == ["spells", "multicolour", "spells"]
  for bad in ("random:", "random:lava", "random:spells,nope"):
    with pytest.raises(ValueError): look_families(bad)
  with pytest.raises(SystemExit): main(["dataset", "--out", "unused", "--look", "random:lava"])


def test_random_families_take_turns_with_random_knobs(tmp_path):
  # 4 train layouts, one group each: the families in turn, every knob still drawn from the layout's seed
  write_dataset(tmp_path, seed=3, instances_per_class=4, test_per_class=0, unet_groups=4, crops_per_group=1, progress=False,
                layout_ids=[2], look="random:spells,multicolour")
  fams = datadir.read_group_families(tmp_path)
  assert fams == {"sim_0000": "spells", "sim_0001": "multicolour", "sim_0002": "spells", "sim_0003": "multicolour"}
  looks = json.loads((datadir.data_root(tmp_path) / datadir.LOOKS_FILE).read_text())
  assert looks["sim_0000"]["effects"] > 0 and looks["sim_0001"]["effects"] == 0
  assert len({looks[g]["parallax"] for g in looks}) == 4


def test_extra_data_pools_groups_of_several_roots(tmp_path):
  a, b = make_tiny_data(tmp_path / "a"), make_tiny_data(tmp_path / "b", seed=1)
  pool = load_group_roots([a, b])
  assert sorted(pool) == [f"{r}/g{i}" for r in "ab" for i in range(4)]
  assert not np.array_equal(pool["a/g0"][0].image, pool["b/g0"][0].image)  # both roots' crops, not one twice
  with pytest.raises(UserError, match="distinct"): load_group_roots([a, tmp_path / "x" / "a"])
  args = train_unet.get_args(["--data", str(a), "--extra-data", str(b), "--config", UNET_MICRO, "--batch", "8", "--steps", "2",
                              "--eval-every", "2", "--val-frac", "0.25", "--out", str(tmp_path / "u.safetensors")])
  hist = train_unet.train(args)
  assert hist["steps"] == 2 and len(hist["val"]) == 1
