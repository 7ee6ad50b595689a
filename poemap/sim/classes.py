"""The nine macro-structures of the synthetic Coast.

Coordinates are in layout units (about 450 px at 4K minimap scale), [y, x] with y down, relative to
the entrance `e` at (0, 0). Three families share their first stretch (`a`), so exploration near
the entrance cannot tell the members of a family apart; they diverge after `a`.
Edge width is the corridor width in units; blobs are open areas (beaches) given as (node, ry, rx).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poemap.contract import NUM_CLASSES as N_CLASSES  # one class per layout of the real Coast


@dataclass(frozen=True)
class LayoutSpec:
  name: str
  nodes: dict[str, tuple[float, float]]
  edges: list[tuple[str, str, float]]
  exits: list[str]
  ends: list[str] = field(default_factory=list)     # dead ends / branch ends: player objectives, guide marks
  blobs: list[tuple[str, float, float]] = field(default_factory=list)
  shared: tuple[str, ...] = ("e", "a")               # the first stretch shared with the family


# first stretch of each family: north, east, north-east
_A, _B, _C = (-2.0, 0.2), (0.2, 2.0), (-1.4, 1.4)

SPECS: list[LayoutSpec] = [
  LayoutSpec("west beach",
    {"e": (0, 0), "a": _A, "b": (-3.3, -1.3), "c": (-5.0, -3.0), "x": (-6.6, -3.4), "d": (-2.4, 1.8)},
    [("e", "a", .7), ("a", "b", .8), ("b", "c", .7), ("c", "x", .6), ("a", "d", .5)],
    exits=["x"], ends=["d"], blobs=[("b", 1.3, 1.9)]),
  LayoutSpec("east road",
    {"e": (0, 0), "a": _A, "b": (-3.0, 1.0), "c": (-3.2, 3.5), "x": (-2.8, 6.2), "f": (-5.3, 3.8)},
    [("e", "a", .7), ("a", "b", .7), ("b", "c", .7), ("c", "x", .65), ("c", "f", .55)],
    exits=["x"], ends=["f"]),
  LayoutSpec("fork",
    {"e": (0, 0), "a": _A, "b": (-3.4, 0.0), "l": (-5.0, -2.2), "m": (-6.6, -2.7), "r": (-5.2, 2.0), "x": (-7.0, 2.5)},
    [("e", "a", .7), ("a", "b", .8), ("b", "l", .6), ("l", "m", .55), ("b", "r", .65), ("r", "x", .6)],
    exits=["x"], ends=["m"], blobs=[("m", .9, 1.1)]),
  LayoutSpec("long shore",
    {"e": (0, 0), "a": _B, "b": (-0.5, 4.0), "c": (0.4, 6.0), "x": (-0.2, 8.2), "s": (1.4, 4.8)},
    [("e", "a", .7), ("a", "b", .7), ("b", "c", .75), ("c", "x", .65), ("b", "s", .9)],
    exits=["x"], ends=["s"], blobs=[("s", 1.0, 1.9)]),
  LayoutSpec("north turn",
    {"e": (0, 0), "a": _B, "b": (-0.2, 3.1), "c": (-2.5, 3.5), "d": (-5.0, 3.0), "x": (-6.6, 3.6), "f": (0.5, 5.6)},
    [("e", "a", .7), ("a", "b", .7), ("b", "c", .65), ("c", "d", .7), ("d", "x", .6), ("b", "f", .55)],
    exits=["x"], ends=["f"]),
  LayoutSpec("ring",
    {"e": (0, 0), "a": _B, "b": (0.0, 3.2), "n": (-1.6, 4.7), "q": (0.0, 6.2), "s": (1.6, 4.7), "y": (1.9, 7.6), "x": (3.3, 8.0)},
    [("e", "a", .7), ("a", "b", .7), ("b", "n", .55), ("n", "q", .55), ("q", "s", .55), ("s", "b", .55),
     ("q", "y", .65), ("y", "x", .6)],
    exits=["x"], ends=["n"]),
  LayoutSpec("open bay",
    {"e": (0, 0), "a": _C, "b": (-2.3, 3.0), "c": (-4.6, 4.6), "x": (-6.3, 4.0), "w": (-1.2, 5.4)},
    [("e", "a", .7), ("a", "b", .8), ("b", "c", .7), ("c", "x", .6), ("b", "w", .8)],
    exits=["x"], ends=["w"], blobs=[("b", 1.5, 1.8), ("w", 1.0, 1.2)]),
  LayoutSpec("zigzag",
    {"e": (0, 0), "a": _C, "b": (-3.2, 1.0), "c": (-4.3, 3.1), "d": (-6.1, 2.2), "x": (-7.5, 3.7), "f": (-3.7, -1.3)},
    [("e", "a", .7), ("a", "b", .65), ("b", "c", .65), ("c", "d", .65), ("d", "x", .6), ("b", "f", .5)],
    exits=["x"], ends=["f"]),
  LayoutSpec("east spur",
    {"e": (0, 0), "a": _C, "b": (-2.0, 2.6), "c": (-1.6, 5.6), "f": (-2.4, 7.7), "d": (-3.8, 1.6), "g": (-4.6, -0.6), "x": (-4.2, -2.7)},
    [("e", "a", .7), ("a", "b", .7), ("b", "c", .6), ("c", "f", .55), ("b", "d", .65), ("d", "g", .65), ("g", "x", .6)],
    exits=["x"], ends=["f"]),
]
assert len(SPECS) == N_CLASSES


def skeleton(spec: LayoutSpec, nodes: dict | None = None, step: float = 0.1) -> np.ndarray:
  """(K, 2) points [y, x] covering a class's macro-structure: its edges every `step` and its open areas
  on a `step` grid. In layout units around the spec's nodes, or around `nodes` (e.g. an instance's
  jittered nodes, in the same units) when given."""
  nodes = spec.nodes if nodes is None else nodes
  out = []
  for a, b, _ in spec.edges:
    p, q = np.asarray(nodes[a], np.float64), np.asarray(nodes[b], np.float64)
    n = max(2, int(np.ceil(np.linalg.norm(q - p) / step)) + 1)
    out.append(p + (q - p) * np.linspace(0, 1, n)[:, None])
  for k, ry, rx in spec.blobs:
    yy, xx = np.mgrid[-ry:ry + 1e-9:step, -rx:rx + 1e-9:step]
    inside = (yy / ry) ** 2 + (xx / rx) ** 2 <= 1
    out.append(np.stack([yy[inside], xx[inside]], 1) + np.asarray(nodes[k], np.float64))
  return np.concatenate(out)
