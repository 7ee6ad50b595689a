"""Writers for the published data directory, fed by the synthetic Coast.

train/: fully revealed layouts at 1/2 scale with origin, ground-truth line mask and drawn-like paths;
test/: live-like samples of partial exploration (what the server's COLLECT mode saves) with a
curation mask marking those an expert could classify (no other class explains what is revealed); auto_crop_50/ + mask_50/:
noisy rendered crops at 1/2 scale sharing one ground-truth line mask per group (some groups show
no revealed map at all and have an all-zero mask); user/coast/: the guide images.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from poemap import datadir
from poemap.fileio import save_json
from poemap.sim.classes import N_CLASSES, SPECS, skeleton
from poemap.sim.guides import write_guides
from poemap.sim.layout import Layout, half_scale, make_layout
from poemap.sim.look import FAMILIES, Look, parse_look, random_look
from poemap.sim.noise import smooth_noise
from poemap.sim.player import walk_full
from poemap.sim.render import LINE_ALPHA, LINE_RGB, Reveal, make_world, render_view, screen_scale
from poemap.tokens import mask_tokens

UNET_CROP = 256  # side of a UNet crop at 1/2 scale


def instance_seed(seed: int, tree: str, layout_id: int, instance: int) -> int:
  """Independent layout seeds for every (tree, layout, instance) of a dataset seed: train and test never share one."""
  return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, sum(map(ord, tree)), int(layout_id), int(instance)]).generate_state(1)[0])


def dark_background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  """float32 (H, W, 3): the dim, noisy ground a stitched minimap shows between its lines."""
  h, w = shape
  base = rng.uniform(14, 38, 3).astype(np.float32)
  # low-frequency only: per-pixel noise would make every PNG of the data directory incompressible
  low = smooth_noise(rng, (h, w), 90)[..., None] * 7 + smooth_noise(rng, (h, w), 6)[..., None] * 3
  return base[None, None] + low


def minimap_half(layout: Layout, revealed: np.ndarray | None, rng: np.random.Generator, y0: int = 0, x0: int = 0, h: int | None = None,
                 w: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(RGB uint8 image, 0/1 mask) at 1/2 scale of the 4K region [y0:y0+h, x0:x0+w]: revealed map lines
  over a dark noisy background, as a stitched and shrunk minimap looks; the mask is the ground truth."""
  h = layout.shape[0] - y0 if h is None else h
  w = layout.shape[1] - x0 if w is None else w
  vis = layout.lines[y0:y0 + h, x0:x0 + w]
  if revealed is not None: vis = vis & (revealed[y0:y0 + h, x0:x0 + w] > 0)
  cover = cv2.resize(vis.astype(np.float32), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
  mask = half_scale(vis)
  img = dark_background(rng, (h // 2, w // 2))
  color = LINE_RGB + rng.uniform(-5, 5, 3).astype(np.float32)
  a = (cover * rng.uniform(*LINE_ALPHA))[..., None]
  img = img * (1 - a) + color * a
  return np.clip(img, 0, 255).astype(np.uint8), mask


def drawn_paths(layout: Layout, rng: np.random.Generator, n: int = 6) -> list[np.ndarray]:
  """Paths from the entrance through walkable space at 1/2 scale, like lines drawn by hand over the
  layout: to each objective, through several, and some that stop early. (K, 2) int64 [y, x]."""
  objs = [np.asarray(p, np.float64) for p in layout.objectives]
  plans = [[o] for o in objs]
  while len(plans) < n:
    k = int(rng.integers(1, len(objs) + 1))
    plans.append([objs[i] for i in rng.permutation(len(objs))[:k]])
  rng.shuffle(plans)
  out = []
  for j, plan in enumerate(plans[:n]):
    pos, pts = layout.entrance.astype(np.float64), []
    for goal in plan:
      r = layout.route(pos, goal)
      pts.append(r)
      pos = r[-1]
    p = np.concatenate(pts)
    if j % 3 == 2: p = p[:max(2, int(len(p) * rng.uniform(0.15, 0.7)))]  # someone who stopped early
    # a hand's wobble: smooth sideways noise of a few px
    t = np.arange(len(p))
    wob = np.stack([np.interp(t, np.linspace(0, len(p), 12), rng.normal(0, 10, 12)) for _ in range(2)], 1)
    p = p + wob * np.minimum(1, t / 20)[:, None]  # every stroke starts exactly at the entrance
    # dense like a drawn stroke: a point every ~2 px at 1/2 scale
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    ts = np.linspace(0, s[-1], max(2, int(s[-1] / 4)))
    q = np.stack([np.interp(ts, s, p[:, 0]), np.interp(ts, s, p[:, 1])], 1) / 2
    q = np.floor(q).astype(np.int64)  # the pixel containing the point, like the origin
    keep = np.concatenate([[True], (np.diff(q, axis=0) != 0).any(1)])
    out.append(q[keep])
  return out


RIVAL_DISTANCE = 0.8  # layout units: revealed structure this far from a class's macro-structure rules that class out
SEEN_WINDOW = 0.25   # layout units: a skeleton point counts as seen when fog has lifted this close to it
_SKELETONS = [skeleton(spec) for spec in SPECS]


def rival_classes(layout: Layout, revealed: np.ndarray) -> list[int]:
  """The other classes whose macro-structure can explain everything revealed so far: the classes an expert
  who knows the nine guides could not yet rule out. Revealed = the fog-lifted 4K mask. A point of this
  instance's own skeleton (corridors and open areas at its jittered nodes) is seen when fog lifted within
  SEEN_WINDOW of it; a class is ruled out when some seen point lies more than RIVAL_DISTANCE from its skeleton."""
  spec, e, u = SPECS[layout.layout_id], layout.nodes["e"], layout.unit
  own = skeleton(spec, {k: (v - e) / u for k, v in layout.nodes.items()})
  small = cv2.resize(revealed.astype(np.uint8), (revealed.shape[1] // 8, revealed.shape[0] // 8), interpolation=cv2.INTER_AREA) > 0
  r = max(1, int(SEEN_WINDOW * u / 8))
  near = cv2.dilate(small.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
  yx = np.round((own * u + e) / 8).astype(int)
  ok = (yx[:, 0] >= 0) & (yx[:, 0] < near.shape[0]) & (yx[:, 1] >= 0) & (yx[:, 1] < near.shape[1])
  seen = own[ok][near[yx[ok, 0], yx[ok, 1]]]
  if not len(seen): return [j for j in range(N_CLASSES) if j != layout.layout_id]
  return [j for j, sk in enumerate(_SKELETONS) if j != layout.layout_id
          and np.sqrt(((seen[:, None] - sk[None]) ** 2).sum(-1)).min(1).max() <= RIVAL_DISTANCE]


def write_train_instance(root, layout: Layout, instance: int, rng: np.random.Generator, n_paths: int = 6) -> Path:
  d = datadir.data_root(root) / "train" / str(layout.layout_id) / str(instance)
  img, mask = minimap_half(layout, None, rng)
  datadir.write_layout(d, 0, img, layout.entrance // 2, mask)
  datadir.write_paths(d, drawn_paths(layout, rng, n_paths))
  return d


def write_test_instance(root, layout: Layout, instance: int, seed: int, n_frames: int = 40, every: int = 5) -> tuple[Path, list[str]]:
  """Live-like samples along one simulated walk; returns (instance dir, curated timestamps)."""
  d = datadir.data_root(root) / "test" / str(layout.layout_id) / str(instance)
  rng = np.random.default_rng([seed & 0xFFFFFFFF, 17])
  walk = walk_full(layout, seed, n_frames)
  reveal = Reveal(layout.shape)
  base = 1_700_000_000_000 + int(rng.integers(0, 10 ** 9))
  curated = []
  for t in range(n_frames):
    reveal.visit(walk.trails[t])
    if t < 2 or (t - 2) % every: continue
    ys, xs = np.nonzero(reveal.mask[::8, ::8])
    pad = 128
    y0, x0 = max(0, int(ys.min()) * 8 - pad) // 2 * 2, max(0, int(xs.min()) * 8 - pad) // 2 * 2
    y1, x1 = min(layout.shape[0], int(ys.max()) * 8 + pad), min(layout.shape[1], int(xs.max()) * 8 + pad)
    raw, mask = minimap_half(layout, reveal.mask, rng, y0, x0, (y1 - y0) // 2 * 2, (x1 - x0) // 2 * 2)
    origin = (layout.entrance - np.array([y0, x0])) // 2
    tokens = mask_tokens(mask, origin)  # what the server would send the ViT for this mask (cleaned once)
    ts = str(base + int(t * 1000 / walk.fps))
    datadir.write_collect_sample(d, ts, raw, origin, mask, tokens)
    if len(tokens) >= 8 and not rival_classes(layout, reveal.mask): curated.append(ts)
  return d, curated


def write_unet_groups_for(root, layout: Layout, groups: list[int], seed: int, crops_per_group: int = 6, background_every: int = 5,
                          look: Look | None = None) -> None:
  """UNet pairs from one layout: each group is one 1/2-scale region of revealed minimap rendered over
  `crops_per_group` different stretches of world (the player stands elsewhere, fires, monsters and
  the player's glow move), all sharing one ground-truth line mask. A look other than the coast's is
  rendered at its screen's resolution and brought to the 4K geometry as the client does
  (stream.capture.to_pipeline_scale), so the crops carry the blur of a smaller screen."""
  rng = np.random.default_rng([seed & 0xFFFFFFFF, 23])
  world = make_world(layout, seed, look)
  walk = walk_full(layout, seed, 40)
  reveal = Reveal(layout.shape, world.fog_axes)
  for tr in walk.trails: reveal.visit(tr)
  empty = np.zeros_like(reveal.mask)
  side = 2 * UNET_CROP
  lines = world.map_lines
  sc = 1.0 if look is None else screen_scale(look.resolution)
  ly, lx = np.nonzero(lines[::4, ::4] & (reveal.mask[::4, ::4] > 0))
  for g in groups:
    background = g % background_every == background_every - 1 or not len(ly)
    if background:
      wy, wx = np.nonzero(layout.coarse)
      k = int(rng.integers(len(wy)))
      cy, cx, rev = wy[k] * 8, wx[k] * 8, empty
    else:
      k = int(rng.integers(len(ly)))
      cy, cx, rev = ly[k] * 4, lx[k] * 4, reveal.mask
    y0 = int(cy + rng.integers(-side // 3, side // 3) - side // 2)
    x0 = int(cx + rng.integers(-side // 3, side // 3) - side // 2)
    vis = lines[max(0, y0):y0 + side, max(0, x0):x0 + side] & (rev[max(0, y0):y0 + side, max(0, x0):x0 + side] > 0)
    full = np.zeros((side, side), bool)
    full[max(0, y0) - y0:max(0, y0) - y0 + vis.shape[0], max(0, x0) - x0:max(0, x0) - x0 + vis.shape[1]] = vis
    mask = half_scale(full)
    crops = []
    for _ in range(crops_per_group):
      player = np.array([cy, cx]) + rng.integers(-380, 381, 2)
      w = world
      if rng.random() < 0.4:
        # a fire right under the region: the hard case that washes the lines out
        f = np.array([[(y0 + side * rng.uniform(0.2, 0.8) - player[0]) + player[0] * world.parallax,
                       (x0 + side * rng.uniform(0.2, 0.8) - player[1]) + player[1] * world.parallax, rng.uniform(80, 160)]], np.float32)
        w = replace(world, fires=np.concatenate([world.fires, f]))
      if sc == 1.0:
        img = render_view(w, player, rev, int(rng.integers(0, 1000)), y0 - player[0], x0 - player[1], side, side)
      else:
        n = int(round(side * sc))
        img = render_view(w, player, rev, int(rng.integers(0, 1000)), y0 - player[0], x0 - player[1], n, n, n / side)
        img = cv2.resize(img, (side, side), interpolation=cv2.INTER_LINEAR)  # the client's upscale to the 4K geometry
      crops.append(cv2.resize(img, (UNET_CROP, UNET_CROP), interpolation=cv2.INTER_AREA))
    datadir.write_unet_group(root, unet_group_name(g), crops, mask)


def unet_group_name(g: int) -> str: return f"sim_{g:04d}"


def look_families(look: str) -> list[str]:
  """The families of a 'random:FAM,FAM,...' look spec (in order, repeats kept); [] for any other spec."""
  if not look.startswith("random:"): return []
  fams = [f.strip() for f in look[len("random:"):].split(",") if f.strip()]
  bad = [f for f in fams if f not in FAMILIES]
  if not fams or bad: raise ValueError(f"look {look!r}: want random:FAM[,FAM...] with families from {', '.join(FAMILIES)}")
  return fams


def write_dataset(root: str | os.PathLike, seed: int = 0, instances_per_class: int = 2, test_per_class: int = 1, unet_groups: int = 18,
                  crops_per_group: int = 6, test_frames: int = 40, progress: bool = True, layout_ids: list[int] | None = None,
                  look: str = "default") -> dict:
  """A whole data directory in the published format. Returns counts for a summary line. `look`
  ('default', 'random', 'mixed', a family (poemap.sim.look.parse_look), or 'random:FAM,FAM,...': random
  knobs within the listed families, taken in turn, so hard families can be over-represented; a family
  listed twice gets twice the layouts) sets the UNet groups' look per train layout; each group's look is
  listed in sim_looks.json (for per-family evaluation)."""

  root = Path(root)
  if instances_per_class < 1 and unet_groups > 0: raise ValueError("unet groups are cut from train layouts: need instances_per_class >= 1")
  families = look_families(look)
  ids = list(range(N_CLASSES)) if layout_ids is None else [int(l) for l in layout_ids]
  if any(not 0 <= l < N_CLASSES for l in ids): raise ValueError(f"layout ids must be in 0..{N_CLASSES - 1}, got {ids}")
  jobs = [("train", l, i) for l in ids for i in range(instances_per_class)] + [("test", l, i) for l in ids for i in range(test_per_class)]
  n_train = len(ids) * instances_per_class
  curation: dict[str, dict[str, list[str]]] = {}
  counts = {"train": 0, "test_samples": 0, "curated": 0, "unet_groups": 0}
  looks: dict[str, dict] = {}
  for k, (tree, l, i) in enumerate(tqdm(jobs, desc="dataset", unit="layout", disable=not progress)):
    s = instance_seed(seed, tree, l, i)
    layout = make_layout(l, s)
    rng = np.random.default_rng([s, 1])
    if tree == "train":
      write_train_instance(root, layout, i, rng)
      counts["train"] += 1
      mine = list(range(unet_groups))[k::n_train]  # round-robin: groups spread over classes
      if mine:
        # 'mixed': every fourth train layout keeps the coast's own look (the demo's), the rest are random
        if families: lk = random_look(s, families[k % len(families)])
        else: lk = Look() if look == "mixed" and k % 4 == 0 else parse_look("random" if look == "mixed" else look, s)
        write_unet_groups_for(root, layout, mine, s, crops_per_group, look=None if lk.is_default else lk)
        counts["unet_groups"] += len(mine)
        looks.update({unet_group_name(g): lk.to_dict() for g in mine})
    else:
      d, cur = write_test_instance(root, layout, i, s, test_frames)
      counts["test_samples"] += len(list(d.glob("*_tokens.npz")))
      counts["curated"] += len(cur)
      curation.setdefault(str(l), {})[str(i)] = cur
  if test_per_class: datadir.write_curation_mask(curation, root)
  if looks: save_json(datadir.data_root(root) / datadir.LOOKS_FILE, looks, overwrite=True)
  write_guides(datadir.data_root(root) / "user" / "coast")
  return counts
