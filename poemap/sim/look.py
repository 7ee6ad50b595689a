"""Looks: how a session's screen looks, apart from the layout and the walk.

The real game is a screen we cannot see from here: other ground colours, other parallax, effects,
other overlay opacity and line width, other resolutions. A Look fixes all of that for a session, so
stitching and the UNet are trained and tested across looks rather than fitted to one. `Look()` is
today's synthetic Coast exactly (the demo, the bundled models and the replays keep their meaning);
`random_look(seed)` draws a family and every continuous knob from the seed; `named_look(name)` is a
family's preset.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

# world palette families; "coast" is the look the bundled models were made on
FAMILIES = ("coast", "cave", "bright", "multicolour", "sea", "spells", "fires")
RESOLUTIONS = ((1920, 1080), (2560, 1440), (3440, 1440), (3840, 2160))
# the game's overlay map lines are blue to purple; the two ends of the family, before transparency
LINE_BLUE, LINE_PURPLE = (95, 130, 255), (200, 70, 255)


@dataclass(frozen=True)
class Look:
  family: str = "coast"
  parallax: float = 1.6                            # world px per minimap px
  line_rgb: tuple[float, float, float] | None = None  # None: the coast's (160, 86, 255), jittered per world
  line_alpha: tuple[float, float] = (0.8, 0.88)    # the world draws its opacity from this range
  line_width: int = 4                              # px at 4K
  fog_scale: float = 1.0                           # of the coast's 140 x 120 px fog ellipse
  resolution: tuple[int, int] = (3840, 2160)
  effects: float = 0.0                             # spell effects per frame around the player (0: none)
  fires: float = 1.0                               # of the coast's fire density
  seed: int = 0                                    # draws the family's palette

  def __post_init__(self):
    if self.family not in FAMILIES: raise ValueError(f"unknown look family {self.family!r}: one of {', '.join(FAMILIES)}")
    if not 1.0 < self.parallax <= 20: raise ValueError(f"parallax must be in (1, 20], got {self.parallax}")
    if not 0 < self.line_alpha[0] <= self.line_alpha[1] <= 1: raise ValueError(f"line_alpha must be 0 < lo <= hi <= 1, got {self.line_alpha}")
    if not 1 <= self.line_width <= 8: raise ValueError(f"line_width must be 1..8 px, got {self.line_width}")

  @property
  def is_default(self) -> bool: return self == Look()

  def describe(self) -> str:
    rgb = "coast" if self.line_rgb is None else "(%d, %d, %d)" % tuple(int(v) for v in self.line_rgb)
    return (f"{self.family} parallax {self.parallax:.1f} lines {rgb} alpha {self.line_alpha[0]:.2f}-{self.line_alpha[1]:.2f} "
            f"width {self.line_width} fog x{self.fog_scale:.2f} {self.resolution[0]}x{self.resolution[1]}"
            + (f" effects {self.effects:.0f}" if self.effects else "") + (f" fires x{self.fires:.1f}" if self.fires != 1 else ""))

  def to_dict(self) -> dict: return asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> Look:
    """The inverse of to_dict through JSON, which turns the tuples into lists."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return cls(**fields)


def _line_rgb(t: float) -> tuple[float, float, float]:
  a, b = np.asarray(LINE_BLUE, np.float64), np.asarray(LINE_PURPLE, np.float64)
  r, g, bl = (float(v) for v in a + (b - a) * t)
  return r, g, bl


def named_look(name: str, seed: int = 0) -> Look:
  """A family's preset: the family's palette at middling knobs (seed picks the palette's variant)."""
  if name == "default": return Look()
  if name not in FAMILIES: raise ValueError(f"unknown look {name!r}: 'default', 'random' or one of {', '.join(FAMILIES)}")
  base = Look(name, seed=int(seed))
  if name == "coast": return base
  extra: dict[str, Any] = {"spells": {"effects": 14.0}, "fires": {"fires": 6.0}}.get(name, {})
  return replace(base, parallax=3.0, line_rgb=_line_rgb(0.5), line_alpha=(0.6, 0.7), line_width=3, **extra)


def random_look(seed: int, family: str | None = None) -> Look:
  """Every knob drawn from the seed: family, parallax 1.1-10 (log-uniform), line colour within the
  blue-purple family, alpha 0.4-0.9, line width 2-5 px at 4K, fog radius 0.75-1.35x, resolution."""
  rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 31])
  fam = FAMILIES[int(rng.integers(len(FAMILIES)))] if family is None else family
  lo = float(rng.uniform(0.4, 0.85))
  kw: dict[str, Any] = dict(parallax=float(np.exp(rng.uniform(np.log(1.1), np.log(10.0)))), line_rgb=_line_rgb(float(rng.uniform(0, 1))),
            line_alpha=(lo, min(0.9, lo + 0.05)), line_width=int(rng.integers(2, 6)), fog_scale=float(rng.uniform(0.75, 1.35)),
            resolution=RESOLUTIONS[int(rng.integers(len(RESOLUTIONS)))])
  kw["effects"] = float(rng.uniform(8, 20)) if fam == "spells" else 0.0
  kw["fires"] = float(rng.uniform(4, 8)) if fam == "fires" else 1.0
  return Look(fam, seed=int(seed), **kw)


def parse_look(spec: str, seed: int) -> Look:
  """--look: 'default', 'random' (drawn from the seed), or a family name (its preset)."""
  return random_look(seed) if spec == "random" else named_look(spec, seed)
