"""The evaluation report: ViT accuracy on the test tree (overall, per class, against the number of revealed
tokens, confusion matrix, failing samples as images) and UNet line F1 against the colour-filter baseline
on the auto_crop_50/mask_50 groups. Pictures are drawn with OpenCV (no plotting dependency)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from poemap.colorfilter import line_f1
from poemap.datadir import read_group_families, read_tokens, read_unet_groups, report_read, test_samples
from poemap.fileio import atomic_write_bytes, load_npz_data, save_json, save_png
from poemap.tokens import clean_sparse_pixels

TOKEN_BINS = (1, 8, 16, 32, 64, 128, 10**9)   # revealed-token bins: [1,8), [8,16), ... [128, inf)


def vit_predictions(runner, root: str | os.PathLike | None = None, curated_only: bool = True) -> list[dict]:
  """One record per test sample: path, label, pred, probs, n_tokens (samples without tokens get pred -1:
  the server answers no_features for them)."""
  recs: list[dict] = []
  skipped: list[tuple[str, str]] = []
  samples = test_samples(root, curated_only, skipped)
  report_read(f"test samples under {root or 'data'}/test", len(samples), skipped)
  for label, p in samples:
    t = read_tokens(p)
    recs.append({"path": str(p), "label": int(label), "n_tokens": int(len(t)), "tokens": t})
  have = [r for r in recs if r["n_tokens"]]
  for r, pr in zip(have, runner.probs([r["tokens"] for r in have]) if have else []): r["probs"], r["pred"] = pr.tolist(), int(pr.argmax())
  for r in recs:
    if not r["n_tokens"]: r["probs"], r["pred"] = None, -1
  return recs


def cluster_bootstrap(correct: np.ndarray, groups: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
  """Percentile interval of the accuracy mean(correct) when whole groups are resampled with replacement.
  Samples of one walk are strongly correlated (one wrong turn costs several in a row), so resampling
  single samples would report an interval that is too narrow; a walk is the unit that is drawn at random."""
  correct, groups = np.asarray(correct, np.float64), np.asarray(groups)
  if correct.shape != groups.shape or correct.ndim != 1 or not len(correct): raise ValueError("need equal-length, non-empty 1-D correct and groups")
  _, g = np.unique(groups, return_inverse=True)
  hits, sizes = np.bincount(g, weights=correct), np.bincount(g).astype(np.float64)
  draw = np.random.default_rng(seed).integers(0, len(sizes), (n_boot, len(sizes)))
  accs = hits[draw].sum(1) / sizes[draw].sum(1)
  lo, hi = np.quantile(accs, [(1 - level) / 2, (1 + level) / 2])
  return float(lo), float(hi)


def vit_summary(recs: list[dict], num_classes: int) -> dict:
  labels, preds = np.array([r["label"] for r in recs], np.int64), np.array([r["pred"] for r in recs], np.int64)
  cm = np.zeros((num_classes, num_classes), np.int64)
  for l, p in zip(labels, preds):
    if p >= 0: cm[l, p] += 1
  per_class = {str(c): {"n": int((labels == c).sum()), "acc": float((preds[labels == c] == c).mean()) if (labels == c).any() else None}
               for c in range(num_classes)}
  n_tok = np.array([r["n_tokens"] for r in recs])
  by_tokens = []
  for lo, hi in zip(TOKEN_BINS[:-1], TOKEN_BINS[1:]):
    sel = (n_tok >= lo) & (n_tok < hi)
    if sel.any(): by_tokens.append({"tokens": f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+", "n": int(sel.sum()),
                                    "acc": float((preds[sel] == labels[sel]).mean())})
  walks = np.array([str(Path(r["path"]).parent) for r in recs])
  ci = cluster_bootstrap(preds == labels, walks) if len(recs) else None
  roots = np.array([str(r.get("data", "")) for r in recs])
  by_data = [{"data": d, "n": int(sel.sum()), "walks": len(set(walks[sel])), "acc": float((preds[sel] == labels[sel]).mean())}
             for d in dict.fromkeys(roots) for sel in [roots == d]]
  return {"n": len(recs), "acc": float((preds == labels).mean()) if len(recs) else None, "walks": len(set(walks)), "acc_ci95_walks": ci,
          "per_class": per_class, "confusion": cm.tolist(), "by_tokens": by_tokens, "by_data": by_data, "failures": int((preds != labels).sum())}


def draw_confusion(cm: np.ndarray, cell: int = 56) -> np.ndarray:
  """RGB image of a confusion matrix: rows true, columns predicted, cells shaded by row fraction."""
  cm = np.asarray(cm)
  C = len(cm)
  pad = 70
  img = np.full((pad + C * cell + 10, pad + C * cell + 10, 3), 255, np.uint8)
  frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
  for i in range(C):
    for j in range(C):
      y, x = pad + i * cell, pad + j * cell
      shade = int(255 - 200 * frac[i, j])
      cv2.rectangle(img, (x, y), (x + cell - 1, y + cell - 1), (shade, shade, 255) if i != j else (shade, 255, shade), -1)
      cv2.rectangle(img, (x, y), (x + cell - 1, y + cell - 1), (200, 200, 200), 1)
      txt = str(int(cm[i, j]))
      (tw, th), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
      cv2.putText(img, txt, (x + (cell - tw) // 2, y + (cell + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, str(i), (pad - 20, pad + i * cell + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, str(i), (pad + i * cell + cell // 2 - 5, pad - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
  cv2.putText(img, "true \\ predicted", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
  return img


def draw_bars(rows: list[dict], title: str, w: int = 640, h: int = 360) -> np.ndarray:
  """RGB bar chart of accuracy per bin (rows: {"tokens", "n", "acc"}), the sample count above each bar."""
  img = np.full((h, w, 3), 255, np.uint8)
  x0, y0, y1 = 50, 40, h - 50
  cv2.putText(img, title, (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
  cv2.line(img, (x0, y0), (x0, y1), (0, 0, 0), 1)
  cv2.line(img, (x0, y1), (w - 10, y1), (0, 0, 0), 1)
  for v in (0.0, 0.5, 1.0):
    y = int(y1 - v * (y1 - y0))
    cv2.putText(img, f"{v:.1f}", (10, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (x0, y), (w - 10, y), (225, 225, 225), 1)
  bw = (w - 10 - x0) // max(1, len(rows))
  for i, r in enumerate(rows):
    x = x0 + i * bw + 6
    top = int(y1 - r["acc"] * (y1 - y0))
    cv2.rectangle(img, (x, top), (x + bw - 12, y1 - 1), (70, 110, 220), -1)
    cv2.putText(img, f"{r['acc']:.2f} n={r['n']}", (x, max(top - 6, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, r["tokens"], (x, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
  cv2.putText(img, "revealed tokens", (w // 2 - 60, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
  return img


def tokens_image(tokens: np.ndarray, caption: str = "") -> np.ndarray:
  """RGB picture of a tokenized sample: the mask patches at their grid positions, the origin patch outlined."""
  rows, cols = tokens[:, 0, 0, 1], tokens[:, 0, 0, 2]
  r0, c0 = int(rows.min()), int(cols.min())
  H, W = (int(rows.max()) - r0 + 1) * 32, (int(cols.max()) - c0 + 1) * 32
  img = np.full((H + 30, max(W, 260), 3), 20, np.uint8)
  for t, r, c in zip(tokens[..., 0], rows, cols):
    img[30 + (r - r0) * 32:30 + (r - r0 + 1) * 32, (c - c0) * 32:(c - c0 + 1) * 32][t > 0] = (120, 160, 255)
  if r0 <= 0 <= rows.max() and c0 <= 0 <= cols.max():
    cv2.rectangle(img, (-c0 * 32, 30 - r0 * 32), (-c0 * 32 + 31, 30 - r0 * 32 + 31), (255, 200, 0), 1)
  img[:30] = 255
  cv2.putText(img, caption, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
  return img


def unet_vs_filter(unet_mask, roots: list | str | os.PathLike | None = None, max_crops: int | None = None,
                   others: dict | None = None) -> dict:
  """Pooled pixel precision/recall/F1 of the UNet (raw argmax and after sparse-pixel cleaning) and of the
  colour-filter baseline over every crop of the auto_crop_50/mask_50 groups of one or more data roots
  (at most max_crops per group); `others` ({name: mask function}, e.g. a previous UNet) are scored
  alongside. Where a root says which look each group was rendered in (synthetic data), the same
  scores per look family under "by_family"."""
  pairs, groups, fams = [], [], []
  for r in (roots if isinstance(roots, list) else [roots]):
    skipped: list = []
    groups += (got := read_unet_groups(r, skipped))
    report_read(f"UNet groups under {r or 'data'}", len(got), skipped)
    family = read_group_families(r)
    fams += [family.get(name, "") for name, _, _ in got]
  fam_of = []
  for (_, crops, mp), fam in zip(groups, fams):
    m = load_npz_data(mp)
    pairs += [(load_npz_data(p), m) for p in crops[:max_crops]]
    fam_of += [fam] * len(crops[:max_crops])
  def once(f):  # each network's mask of a crop is computed once, for the pooled and the per-family rows (pairs keeps the crops alive)
    masks: dict[int, np.ndarray] = {}
    def g(im: np.ndarray) -> np.ndarray:
      if id(im) not in masks: masks[id(im)] = f(im)
      return masks[id(im)]
    return g
  unet_once = once(unet_mask)
  predictors = {"unet": unet_once, "unet_cleaned": once(lambda im: clean_sparse_pixels(unet_once(im))), "color_filter": None,
                **{k: once(f) for k, f in (others or {}).items()}}
  def scores(ps: list) -> dict: return {k: line_f1(ps, f) if f is not None else line_f1(ps) for k, f in predictors.items()}
  out = {"groups": len(groups), "crops": len(pairs), **scores(pairs)}
  if any(fam_of):
    out["by_family"] = {fam: {"crops": sum(f == fam for f in fam_of), **scores([p for p, f in zip(pairs, fam_of) if f == fam])}
                        for fam in sorted(set(fam_of)) if fam}
  return out


def write_report(out: str | os.PathLike, summary: dict, recs: list[dict] | None, max_failures: int = 12) -> list[Path]:
  """summary.json, summary.md, confusion.png, accuracy_vs_tokens.png and failures/*.png under out."""
  out = Path(out)
  written = [save_json(out / "summary.json", summary, overwrite=True)]
  vit = summary.get("vit")
  if vit and recs is not None:
    written.append(save_png(out / "confusion.png", draw_confusion(np.array(vit["confusion"])), overwrite=True))
    written.append(save_png(out / "accuracy_vs_tokens.png",
                            draw_bars(vit["by_tokens"], f"ViT test accuracy by revealed tokens (overall {vit['acc']:.3f}, n={vit['n']})"),
                            overwrite=True))
    fails = [r for r in recs if r["pred"] != r["label"] and r["n_tokens"]]
    for r in fails[:max_failures]:
      name = f"{r['label']}_{Path(r['path']).parent.name}_{Path(r['path']).name[:-len('_tokens.npz')]}.png"
      cap = f"true {r['label']} pred {r['pred']} p={max(r['probs']):.2f} tokens {r['n_tokens']}"
      written.append(save_png(out / "failures" / name, tokens_image(r["tokens"], cap), overwrite=True))
  written.append(_write_markdown(out / "summary.md", summary))
  return written


def _write_markdown(path: Path, s: dict) -> Path:
  L = ["# poemap evaluation report", ""]
  for k in ("data", "unet_checkpoint", "vit_checkpoint"):
    if s.get(k): L.append(f"- {k.replace('_', ' ')}: " + ", ".join(f"`{d}`" for d in (s[k] if isinstance(s[k], list) else [s[k]])))
  if u := s.get("unet"):
    L += ["", f"## UNet line F1 ({u['groups']} groups, {u['crops']} crops, pooled pixels)", "",
          "| predictor | F1 | precision | recall |", "| --- | --- | --- | --- |"]
    extra = [k for k in u if isinstance(u[k], dict) and "f1" in u[k] and k not in ("unet", "unet_cleaned", "color_filter")]
    names = (("unet", "UNet (argmax)"), ("unet_cleaned", "UNet + sparse-pixel cleaning"), ("color_filter", "colour filter (baseline)"))
    for k, name in names + tuple((k, k) for k in extra):
      L.append(f"| {name} | {u[k]['f1']:.4f} | {u[k]['precision']:.4f} | {u[k]['recall']:.4f} |")
    if fam := u.get("by_family"):
      cols = ["unet", "unet_cleaned", "color_filter"] + extra
      L += ["", "Line F1 per look family (synthetic looks, poemap.sim.look):", "", "| family | crops | " + " | ".join(cols) + " |",
            "| --- | --- | " + " | ".join("---" for _ in cols) + " |"]
      L += [f"| {k} | {v['crops']} | " + " | ".join(f"{v[c]['f1']:.4f}" for c in cols) + " |" for k, v in fam.items()]
  if v := s.get("vit"):
    L += ["", f"## ViT layout accuracy: {v['acc']:.4f} on {v['n']} test samples ({s.get('test_selection', '')})", ""]
    if v.get("acc_ci95_walks"):
      lo, hi = v["acc_ci95_walks"]
      L += [f"95 % interval {lo:.3f}–{hi:.3f} (bootstrap over the {v['walks']} walks: a walk's samples are not independent)", ""]
    if len(v.get("by_data", [])) > 1:
      L += ["| data | samples | walks | accuracy |", "| --- | --- | --- | --- |"]
      L += [f"| `{d['data']}` | {d['n']} | {d['walks']} | {d['acc']:.4f} |" for d in v["by_data"]] + [""]
    L += ["| class | samples | accuracy |", "| --- | --- | --- |"]
    L += [f"| {c} | {d['n']} | {d['acc']:.4f} |" if d["acc"] is not None else f"| {c} | 0 | - |" for c, d in v["per_class"].items()]
    L += ["", "| revealed tokens | samples | accuracy |", "| --- | --- | --- |"]
    L += [f"| {r['tokens']} | {r['n']} | {r['acc']:.4f} |" for r in v["by_tokens"]]
    L += ["", "![confusion matrix](confusion.png)", "", "![accuracy vs revealed tokens](accuracy_vs_tokens.png)", "",
          f"{v['failures']} failing sample(s); up to the first few are drawn in `failures/` (true / predicted class in the caption)."]
  return atomic_write_bytes(path, ("\n".join(L) + "\n").encode(), overwrite=True)
