"""The area registry (poemap.areas): the bundled file, lookups, and clear errors for a missing or broken one."""
import json
import subprocess
import sys

import pytest

from poemap import REPO_ROOT
from poemap.areas import BUNDLED, load_areas, registry_path
from poemap.usererror import UserError

ENTRY = {"title": "T", "area_ids": ["x_1"], "names": ["X"], "guides": "x", "vit": "ViT_x", "layouts": 3}


def test_the_bundled_registry_has_the_coast_and_the_synthetic_coast(tmp_path):
  a = load_areas()
  coast, synth = a["coast"], a["synthetic_coast"]
  assert coast.vit == "ViT6_219_15" and coast.guides == "coast" and coast.layouts == 9 and a.by_id("1_1_2") is coast
  assert synth.vit_path().is_file() and len(list(synth.guide_dir().glob("*.png"))) == synth.layouts == 9
  assert a.by_name("the coast") is coast and a.by_id("1_1_town") is None and a.by_name("Lioneye's Watch") is None
  assert registry_path(tmp_path) == BUNDLED  # a data root without its own registry uses the bundled one
  (tmp_path / "user").mkdir()
  (tmp_path / "user" / "areas.json").write_text(json.dumps({"areas": {"x": ENTRY}}))
  assert list(load_areas(root=tmp_path).areas) == ["x"] and load_areas(root=tmp_path)["x"].guide_dir(tmp_path) == tmp_path / "user" / "x"


@pytest.mark.parametrize("content,msg", [
  (None, "no area registry at"),
  ("{not json", "is not valid JSON"),
  (b"\xff\xfe\x00", "cannot read the area registry"),
  ("[]", "wants a JSON object"),
  ({"areas": {"x": {**ENTRY, "layouts": 0}}}, "area 'x': 'layouts' must be an integer >= 1"),
  ({"areas": {"x": {**ENTRY, "area_ids": "x_1"}}}, "'area_ids' must be a list"),
  ({"areas": {"x": {k: v for k, v in ENTRY.items() if k != "vit"}}}, "'vit' must be a non-empty string"),
  ({"areas": {"x": ENTRY, "y": ENTRY}}, "area id 'x_1' is also registered for 'x'"),
  ({"areas": {"bad key!": ENTRY}}, "keys are 1-64 letters"),
])
def test_a_missing_or_broken_registry_is_a_clear_error(tmp_path, content, msg):
  p = tmp_path / "areas.json"
  if isinstance(content, dict): p.write_text(json.dumps(content))
  elif isinstance(content, bytes): p.write_bytes(content)
  elif content is not None: p.write_text(content)
  with pytest.raises(UserError, match=msg.replace("(", r"\(")): load_areas(p)


def test_the_client_reports_a_broken_registry_without_a_traceback(tmp_path):
  p = tmp_path / "areas.json"
  p.write_text('{"areas": {"x": {"title": 1}}}')
  r = subprocess.run([sys.executable, "-m", "stream.client", "--areas", str(p), "--no-overlay", "--server", "tcp://127.0.0.1:9"], cwd=REPO_ROOT,
                     capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
  assert r.returncode == 2 and "area 'x': 'title' must be a non-empty string" in r.stderr and "Traceback" not in r.stderr, r.stderr
