"""Stitching on screens unlike the coast's: looks drawn from seeds and frames that are not the minimap.

The canvas may refuse a frame (and then say it is lost), but a frame it accepts is placed within
2 px of the truth, and no interruption is ever pasted in.
"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from poemap.sim import interrupt
from poemap.sim.look import FAMILIES, Look, named_look, parse_look, random_look
from poemap.sim.session import make_session
from poemap.stitch import ADOPT_AFTER, MinimapCanvas, _Features, find_translation
from poemap.contract import CAPTURE_SIDE
from stream.capture import to_pipeline_scale


def stitched(s: dict, canvas: list | None = None, **kw) -> tuple[list[bool], list[float]]:
  """Feed a session through the canvas as the client does; per frame: accepted, error (px). The canvas is appended to
  `canvas` when given; `kw` go to MinimapCanvas."""
  k = CAPTURE_SIDE / s["frames"].shape[1]
  frames = [to_pipeline_scale(f) for f in s["frames"]]
  c, oks, errs = MinimapCanvas(frames[0], **kw), [], []
  for t in range(1, len(frames)):
    oks.append(c.add(frames[t]))
    errs.append(float(np.abs((c.position - c.origin) - s["positions"][t] * k).max()))
  if canvas is not None: canvas.append(c)
  return oks, errs


def assert_right_or_refused(seed: int, t: int, frames: int | None = None) -> None:
  """find_translation on frames t-1 -> t of the stress suite's session for `seed` (rendered to frame t, or `frames`
  long: where the interruptions fall depends on the length): refused, or within 2 px."""
  s = make_session(seed % 9, seed, t + 1 if frames is None else frames, look=random_look(seed), interruptions=3)
  k = CAPTURE_SIDE / s["frames"].shape[1]
  a, b = (to_pipeline_scale(f) for f in s["frames"][t - 1:t + 1])
  found = find_translation(a, b)
  truth = (s["positions"][t] - s["positions"][t - 1]) * k
  assert found is None or float(np.abs(np.array(found[:2]) - truth).max()) <= 2.0, (found, truth)


def assert_found(seed: int, t: int, frames: int = 30) -> None:
  """find_translation on frames t-1 -> t of the stress suite's `frames`-long session for `seed`: within 1 px."""
  s = make_session(seed % 9, seed, frames, look=random_look(seed), interruptions=3)
  k = CAPTURE_SIDE / s["frames"].shape[1]
  a, b = (to_pipeline_scale(f) for f in s["frames"][t - 1:t + 1])
  found = find_translation(a, b)
  truth = (s["positions"][t] - s["positions"][t - 1]) * k
  assert found is not None and float(np.abs(np.array(found[:2]) - truth).max()) <= 1.0, (found, truth)


def assert_never_misplaced(seed: int, frames: int) -> None:
  """The stress suite's session for `seed` (its first `frames` frames) through the canvas: no accepted frame > 2 px off."""
  oks, errs = stitched(make_session(seed % 9, seed, frames, look=random_look(seed), interruptions=3))
  bad = [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]
  assert not bad, f"frames placed > 2 px off: {bad}"


def test_looks_are_seeded_and_named():
  assert random_look(7) == random_look(7) and random_look(7) != random_look(8)
  assert parse_look("default", 3) == Look() and Look().is_default
  assert {random_look(s).family for s in range(200)} == set(FAMILIES)
  for fam in FAMILIES: assert named_look(fam).family == fam
  with pytest.raises(ValueError): named_look("moon")
  with pytest.raises(ValueError): Look(parallax=0.5)


def test_every_family_renders_differently():
  means = []
  for i, fam in enumerate(FAMILIES):
    s = make_session(i, 5, 3, (1920, 1080), look=named_look(fam, 5))
    assert s["frames"].shape == (3, 600, 600, 3) and s["overlap"][1:].max() > 0, fam
    means.append(s["frames"].reshape(-1, 3).mean(0))
  d = np.linalg.norm(np.array(means)[:, None] - np.array(means)[None], axis=-1)
  assert (d + np.eye(len(FAMILIES)) * 1e9).min() > 1.0  # no two families look alike on average


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10 ** 6))
def test_random_looks_never_place_a_frame_wrong(seed):
  look = random_look(seed)
  s = make_session(seed % 9, seed, 10, (1920, 1080), look=look)
  oks, errs = stitched(s)
  bad = [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]
  assert not bad, f"{look.describe()}: frames placed > 2 px off: {bad}"


def test_a_world_streaked_along_the_lines_and_barely_faster_is_not_the_map():
  # a multicolour ground whose streaks lie along the map lines, scrolling only 15 % faster than the
  # map: the world's shift explains more pixels than the map's, by the same streaks
  look = dataclasses.replace(random_look(1016), resolution=(1920, 1080), parallax=1.15)
  s = make_session(5, 5, 10, (1920, 1080), look=look)
  k = CAPTURE_SIDE / s["frames"].shape[1]
  frames, pos = [to_pipeline_scale(f) for f in s["frames"]], s["positions"] * k
  found = [find_translation(frames[t - 1], frames[t]) for t in range(1, len(frames))]
  errs = [None if r is None else float(np.abs(np.array(r[:2]) - (pos[t + 1] - pos[t])).max()) for t, r in enumerate(found)]
  assert all(e is None or e <= 2.0 for e in errs), errs
  assert sum(e is not None for e in errs) >= 5, errs  # and the map is still found on most pairs


def test_a_canvas_that_knows_one_frame_of_spells_never_relocates_far():
  # stress seed 1112: the entrance frame is mostly transient spell strokes, so nothing after it is
  # taken; 13 frames later, searched over the whole crop, some shift lined the new frame's strokes
  # up with the entrance's well enough to pass the canvas check, 1808 px from the truth
  assert_never_misplaced(1112, 30)


def test_spell_strokes_in_the_last_frame_do_not_refuse_the_right_place():
  # stress seed 1105 (spells): the strokes fill the last frame's new lines, and the next frame never shows them; the
  # canvas check, asking every ninth of the frame to show the last frame's lines, refused every frame after the entrance
  oks, errs = stitched(make_session(1105 % 9, 1105, 30, look=random_look(1105), interruptions=3))
  assert sum(oks) >= 20 and errs[-1] <= 2.0, (sum(oks), errs[-1])
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]


def test_a_pair_that_locks_a_few_px_off_is_not_taken_when_the_canvas_disagrees():
  # stress seed 7017 (multicolour, parallax 5.8): frames 2 and 3 agree best 9 px off the truth, at
  # both scales, and every later frame stitched consistently from there; the canvas's persistent
  # lines place frame 3 right
  assert_never_misplaced(7017, 8)


def test_a_player_lost_for_long_is_not_relocated_on_a_chance_agreement():
  # stress seed 7114 (fires, sparse lines): after 17 refused frames, searched over the widest crop,
  # a frame that shares nothing with the canvas lined up with it at 0.77 and passed the canvas check
  assert_never_misplaced(7114, 30)


def test_a_player_who_walked_on_behind_panels_is_placed_again_by_the_frames_stitched_since():
  # stress seed 1021 (fires): three panel frames while the player walks on 400 px; the next frame's overlap with the
  # canvas is lines seen once, too few for a relocation's canvas check. The refused frames stitch among themselves,
  # and their second canvas, merged where it meets the first, places the player again
  s = make_session(1021 % 9, 1021, 12, look=random_look(1021), interruptions=3)
  canvases: list = []
  oks, errs = stitched(s, canvases)
  c = canvases[0]
  assert c.merges >= 1 and not c.lost and errs[-1] <= 2.0, (c.merges, c.lost, errs)
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]
  # without the second canvas the player stays lost: the merge is what places them
  oks, errs = stitched(s, canvases, follow=False)
  assert canvases[1].lost and canvases[1].merges == 0


@pytest.mark.parametrize("kind", interrupt.KINDS)
def test_interruptions_are_skipped_and_the_map_picked_up_again(kind):
  s = make_session(3, 21, 14, look=Look(), interruptions=2, interrupt_kinds=(kind,))
  kinds = [str(k) for k in s["kinds"]]
  assert kind in kinds
  k = CAPTURE_SIDE / s["frames"].shape[1]
  frames = [to_pipeline_scale(f) for f in s["frames"]]
  c = MinimapCanvas(frames[0])
  for t in range(1, len(frames)):
    before = (c.image.copy(), c.lines.copy(), c.position.copy())
    ok = c.add(frames[t])
    if kinds[t]:
      assert not ok, f"{kind} frame {t} was pasted"
      assert np.array_equal(before[0], c.image) and np.array_equal(before[1], c.lines) and np.array_equal(before[2], c.position)
  assert not c.lost and float(np.abs((c.position - c.origin) - s["positions"][-1] * k).max()) <= 2.0


def test_the_character_stands_still_only_while_the_game_cant_be_played():
  s = make_session(3, 21, 30, look=Look(), interruptions=4)
  kinds, pos = [str(k) for k in s["kinds"]], s["positions"]
  moved = [bool(np.any(pos[t] != pos[t - 1])) for t in range(1, len(kinds))]
  assert {"death", "desktop", "overlay_off"} <= set(kinds), "this seed's schedule is meant to hold still and walking kinds"
  assert any(moved[t - 1] for t in range(1, len(kinds)) if kinds[t] == "overlay_off")
  for t in range(1, len(kinds)):
    if kinds[t] in interrupt.STILL: assert not moved[t - 1], f"{kinds[t]} frame {t} moved"
  # the walk is resumed, not skipped: the frame after a still stretch continues from where it stood
  plain = make_session(3, 21, 30, look=Look())["positions"]
  steps = np.cumsum([0] + [k not in interrupt.STILL for k in kinds[1:]])
  assert np.array_equal(pos, plain[steps])


def test_a_session_begun_on_loading_screens_starts_at_the_entrance():
  # the log names the area while the game still shows its loading screen: the player stands at the entrance meanwhile
  s = make_session(3, 21, 12, look=Look(), lead_in=3)
  assert [str(k) for k in s["kinds"][:4]] == ["loading"] * 3 + [""]
  plain = make_session(3, 21, 9, look=Look())["positions"]
  assert np.array_equal(s["positions"][3:], plain) and not s["positions"][:3].any()
  canvases: list = []
  oks, errs = stitched(s, canvases)
  c = canvases[0]
  assert oks[:2] == [False, False] and oks[2], "the loading screens skipped, the entrance frame begins the canvas"
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]
  assert sum(oks) >= 8 and not c.lost and errs[-1] <= 2.0
  # what was shown of the loading screens is gone, and a sender of the canvas learns that it changed beyond the path
  assert c.merges == 1 and c.skipped >= 3 and not c.waiting and not c.began_late and c.began_after == 3


@pytest.mark.parametrize("first", ["black", "desktop"])
def test_a_first_frame_of_waiting_is_replaced_by_the_first_that_shows_one(first):
  s = make_session(1, 5, 6, look=Look())
  frames = [to_pipeline_scale(f) for f in s["frames"]]
  rng = np.random.default_rng(0)
  c = MinimapCanvas(np.zeros_like(frames[0]) if first == "black" else interrupt.desktop(CAPTURE_SIDE, rng))
  assert c.waiting and not c.add(interrupt.loading(CAPTURE_SIDE, rng)) and c.waiting
  origin, size = c.origin.copy(), c.image.shape
  assert c.add(frames[0]) and not c.waiting and not c.began_late
  assert np.array_equal(c.origin, origin) and c.image.shape == size and np.array_equal(c.image, MinimapCanvas(frames[0]).image)
  for t in range(1, len(frames)): assert c.add(frames[t])
  assert float(np.abs((c.position - c.origin) - s["positions"][-1]).max()) <= 2.0
  # a map's first frame is the entrance as before: no frame after it begins the canvas again
  c = MinimapCanvas(frames[0])
  assert not c.waiting and c.add(frames[1]) and c.merges == 0


@pytest.mark.parametrize("seed", [20005, 20049])
def test_an_entrance_with_too_little_map_begins_the_canvas_late_and_says_so(seed):
  # faint lines at the entrance, no long run of them: no shift can be pinned to that frame, then or ever (a relocation
  # needs MIN_LONG too), so the first frame that can begins the canvas, flagged: its origin is not the entrance
  s = make_session(seed % 9, seed, 12, look=random_look(seed))
  k = CAPTURE_SIDE / s["frames"].shape[1]
  canvases: list = []
  oks, _ = stitched(s, canvases)
  c = canvases[0]
  assert c.began_late and 0 < c.began_after and not c.waiting and c.merges == 1
  assert not any(oks[:c.began_after - 1]) and oks[c.began_after - 1]
  start = s["positions"][c.began_after] * k
  assert float(np.abs(start).max()) > 50, "the player walked on before the canvas began"
  assert float(np.abs((c.position - c.origin) - (s["positions"][-1] * k - start)).max()) <= 2.0


@pytest.mark.parametrize("kind,seed,lead", [("tree", 21, 1), ("other_area", 21, 1), ("tree", 8964, 1), ("tree", 21, 3)])
def test_a_first_frame_that_nothing_after_it_places_gives_way_to_the_frames_that_place_each_other(kind, seed, lead):
  # the passive tree opened on arrival, or a last frame of the area left, shows long lines: the canvas begins on it and
  # no frame of the walk ever places against it. The frames after it stitch among themselves (a second canvas); once
  # that holds ADOPT_AFTER frames the canvas is theirs, flagged late (nothing says the tree was not the game). A tree
  # left open places on itself where it lay: still one view, which the walk replaces as well
  s = make_session(seed % 9, seed, 12 + lead, look=Look() if seed < 100 else random_look(seed), lead_in=lead, lead_in_kind=kind)
  assert [str(k) for k in s["kinds"][:lead + 1]] == [kind] * lead + [""] and not s["positions"][:lead + 1].any()
  k = CAPTURE_SIDE / s["frames"].shape[1]
  canvases: list = []
  oks, _ = stitched(s, canvases)
  c = canvases[0]
  b = c.began_after  # the entrance (frame `lead`), or a frame later where the entrance placed nothing (8964: frame 2)
  assert c.began_late and lead <= b <= lead + 1 and c.merges == 1 and not c.lost and c.accepted == len(oks) + 1 - b
  assert oks == [True] * (lead - 1) + [False] * (b - lead + ADOPT_AFTER - 1) + [True] * (len(oks) - b - ADOPT_AFTER + 2), oks
  start = s["positions"][b] * k
  assert float(np.abs((c.position - c.origin) - (s["positions"][-1] * k - start)).max()) <= 2.0
  # nothing of the first frame is left: the canvas is the one begun where the walk's frames began placing each other
  frames = [to_pipeline_scale(f) for f in s["frames"]]
  plain = MinimapCanvas(frames[b])
  assert all(plain.add(f) for f in frames[b + 1:])
  assert np.array_equal(plain.image, c.image) and np.array_equal(plain.position - plain.origin, c.position - c.origin)


def test_a_lookalike_of_few_persistent_lines_does_not_vouch_for_a_relocation():
  # fresh stress seed 9006 (coast, parallax 7.1): after another area's frame the player had walked 728 px off what the
  # canvas knows; frame 14 was relocated onto one of the map's repeated room shapes, 385 px off, vouched for by 172
  # persistent px of which it showed 0.75, and every frame after followed it
  assert_never_misplaced(9006, 18)


def test_a_pair_beside_where_the_canvas_lines_fit_is_refused():
  # fresh stress seed 9070 (multicolour on a tiled ground, parallax 7.5): the pair of frames 1-2 found the world's
  # texture lined up 6.9 px short of the map's shift (0.64 on 1672 px), and the canvas of two frames took it; its
  # persistent lines agreed 0.63 there and 1.0 at the truth. Every later frame followed, 7 px off
  assert_never_misplaced(9070, 8)


def test_a_relocation_after_lost_frames_waits_for_the_next_frame_to_confirm_it():
  # stress seed 9084 (cave, parallax 4.7): after three frames with the overlay off the player had walked 640 px from a
  # canvas of four frames; frame 7 was relocated onto a partial lookalike (0.68 of 234 persistent px), 259 px off, and the
  # 22 frames after followed it. Frame 8, stitched to frame 7, does not relocate alike
  assert_never_misplaced(9084, 12)


def test_a_relocation_after_lost_frames_is_taken_once_the_next_frame_confirms_it(monkeypatch):
  # stress seed 8996 (a tuning seed): frame 13, after three loading screens and a 189 px step, relocates showing every
  # persistent line under it, and is taken at once. Asked to wait for the next frame, frame 14 confirms it
  s = make_session(8996 % 9, 8996, 30, look=random_look(8996), interruptions=3)
  s = {"frames": s["frames"][:16], "positions": s["positions"][:16]}
  oks, errs = stitched(s)
  assert oks[12] and errs[12] <= 2.0 and oks[13]
  monkeypatch.setattr("poemap.stitch.CONFIRM_SHOWN", 1.01)  # no share shown is enough: every such relocation waits
  waited, werrs = stitched(s)
  assert waited[:12] == oks[:12] and not waited[12]
  assert waited[13] and werrs[13] <= 2.0 and all(werrs[t] <= 2.0 for t in range(13, 15) if waited[t])


def test_a_frame_from_another_area_is_refused():
  here, there = make_session(0, 31, 4), make_session(6, 77, 8)
  c = MinimapCanvas(here["frames"][0])
  for f in here["frames"][1:]: assert c.add(f)
  image = c.image.copy()
  for f in there["frames"][3:]: assert not c.add(f)
  assert np.array_equal(image, c.image) and c.lost


def test_another_areas_frames_stitched_among_themselves_are_never_merged():
  # a whole walk through another area of the same look: its frames stitch into a second canvas, which must never be
  # taken for a part of this one
  here, there = make_session(0, 31, 6), make_session(6, 77, 16)
  c = MinimapCanvas(here["frames"][0])
  for f in here["frames"][1:]: assert c.add(f)
  image, position = c.image.copy(), c.position.copy()
  assert not any(c.add(f) for f in there["frames"])
  assert c._second is not None and c._second.accepted >= 3, "the other area's frames should stitch among themselves"
  assert c.merges == 0 and np.array_equal(image, c.image) and np.array_equal(position, c.position) and c.lost


def test_a_canvas_of_one_frame_is_not_relocated_into():
  # stress seed 7307 (multicolour, a report seed looked at after its run): the two frames after the entrance were
  # refused, and the third was relocated into the entrance frame's lines (a world texture among them, never counted
  # twice) 325 px off, where the pair had found two shifts as good; every later frame followed it
  assert_never_misplaced(7307, 6)


def test_a_tiled_world_texture_is_no_shift_however_its_fits_fall_about_the_long_run_share():
  # stress seed 7327 (multicolour, parallax 1.4, faint lines; a report seed looked at after its run), frames 9 -> 10:
  # the ground repeats every 512 px, so its motif fits at a lattice of shifts. The long-run share dropped the best fit
  # of the lattice, one just above it was taken, 496 px off the truth; the dropped one, as good, is its rival
  assert_right_or_refused(7327, 10)


def test_a_world_barely_faster_than_the_map_and_streaked_along_its_lines_is_refused():
  # stress seed 7439 (multicolour, parallax 1.2; a report seed looked at after its run), frames 12 -> 13: the world's
  # shift, 8 px beyond the map's and explained by the same pixels, agreed best (0.82); the map's shift on its ray
  # confirmed 1.12 times its long runs. On the tuning seeds a right shift's ray confirms at most 1.06 times them
  assert_right_or_refused(7439, 13)


def test_a_refinement_that_strays_from_the_coarse_shift_is_refused():
  # stress seed 7406 (sea, parallax 1.7; a report seed looked at after its run), frames 8 -> 9: the player moved 6 px,
  # the world 10; the coarse shift was right and the full-scale refinement, among the sea's glints, moved 3.9 px on to
  # the world's. On the tuning seeds a kept refinement moves at most 3.0 px
  assert_right_or_refused(7406, 9)


@pytest.mark.parametrize("seed,t", [(7426, 19), (7439, 26), (7411, 5)])
def test_a_shift_with_twins_on_both_sides_is_a_repeating_texture_not_the_map(seed, t):
  # stress seeds 7426, 7439 and 7411 (multicolour; report seeds looked at after their run): the ground repeats every 512 px,
  # and a shift of its lattice (with fewer long runs than the map's, but above half the most the candidates had) was
  # taken, 105 and 19 px off (and 73 px for 7411's frame with the overlay map off); the lattice's next nodes on both
  # sides of it agree about as well
  assert_right_or_refused(seed, t)


def test_two_strokes_that_fit_on_a_small_overlap_are_no_shift_when_a_larger_one_confirms_more_long_runs():
  # stress seed 7740 (spells; a report seed looked at after its run), frames 5 -> 6: the player stood still, and two
  # spell arcs fitted 377 px off at 0.60 on a quarter of the frame; standing still confirms 1.9 times the long runs,
  # its share diluted by strokes the other frame never shows (on the tuning seeds a right pair's most is 1.74)
  assert_right_or_refused(7740, 6)


def test_a_frame_without_a_long_line_run_is_aligned_to_nothing():
  # stress seed 7721 (sea, parallax 1.7; a report seed looked at after its run), frames 12 -> 13: the overlay map is
  # off in frame 13, and the sea's glints, moving 1.7 times as fast as the player, fitted at 0.44
  assert_right_or_refused(7721, 13, frames=30)


def test_a_node_of_a_tiled_ground_just_short_of_the_map_shift_is_no_shift():
  # stress seed 7827 (multicolour, faint lines; the final report seed of session 8, looked at after its run), frames
  # 0 -> 1: a node of the ground's lattice 25 px short of the map's shift agreed at 0.42 and the whole session was
  # placed from it; the map's shift, its longer copy on the same ray (so taken for the world's), confirms 1.7 times the
  # long runs, which a world's texture never does
  assert_right_or_refused(7827, 1, frames=30)


def test_a_relocation_is_not_refused_for_long_runs_that_other_canvas_lines_confirm_elsewhere():
  # stress seed 7916 (sea; a report seed looked at after its run): after another area's frame the player was relocated
  # into the canvas, until the pair rule on long runs confirmed elsewhere was asked of the relocation too; in a canvas
  # crop each shift lays the frame over other lines, and a line-dense place confirms more of them (1.96 times here).
  # The relocation (frame 5) is right; the canvas check refuses it since session 11: with no persistent line under the
  # frame only the last frame's lines vouch, and on a tiled ground they vouch as well for a lattice node (seed 9138)
  s = make_session(7916 % 9, 7916, 30, look=random_look(7916), interruptions=3)
  assert s["kinds"][4] == "other_area"
  k = CAPTURE_SIDE / s["frames"].shape[1]
  frames = [to_pipeline_scale(f) for f in s["frames"]]
  c = MinimapCanvas(frames[0])
  assert [c.add(f) for f in frames[1:5]] == [True, True, True, False]
  t = c._relocate(_Features(frames[5]))
  truth = c.origin - np.array(frames[0].shape[:2]) // 2 + s["positions"][5] * k
  assert t is not None and float(np.abs(c.topleft + np.array(t[:2]) - truth).max()) <= 2.0, (t, truth - c.topleft)
  oks, errs = stitched(s)
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs


@pytest.mark.parametrize("seed", [8005, 8020])
def test_a_second_canvas_is_not_merged_at_a_node_of_a_tiled_ground(seed):
  # stress seeds 8005 and 8020 (multicolour, tiled ground; session 8's report seeds, looked at after its run): a second
  # canvas of two frames was merged 330 / 315 px off, where its world texture fitted the texture the canvas had seen
  # once (0.93 / 0.90 on 268 / 168 px); the lattice's twins on both sides of that fit lay over 110-150 px of the canvas's
  # lines, fewer than a merge needs, and so were not asked about
  assert_never_misplaced(seed, 30)


def test_persistent_specks_a_frame_lacks_do_not_pass_for_a_panel():
  # stress seed 1025 (spells; a tuning seed): spell strokes crossing the same canvas pixels in two frames left 52 px of
  # "persistent" specks in one ninth of frame 5's place, which frame 5 lacks, so the frames after two desktop frames
  # were refused as if a panel covered that region; persistent stretches only, they are placed again (5 to 9)
  oks, errs = stitched(make_session(1025 % 9, 1025, 30, look=random_look(1025), interruptions=3))
  assert all(oks[4:9]) and max(errs[4:9]) <= 2.0, (oks[4:9], errs[4:9])


def test_a_rival_on_the_peaks_shoulder_is_judged_as_the_aperture_check_judges_it():
  # stress seed 8032 (coast; a tuning seed), frames 6 -> 7: the map's shift confirmed all of its lines, and a maximum
  # 9 px off, explained by the same pixels (thick lines), 0.72 of them: refused as a rival 1.5 times worse asked for.
  # On the tuning seeds ten right pairs lost so had such a rival 9-12 px off; the wrong shifts with one, at 1.21-1.45,
  # all met another refusal (the aperture check in two of them)
  assert_found(8032, 7)
  assert_right_or_refused(7712, 19, frames=30)  # overlay off, a rival 12 px off at 1.27: the aperture check refuses it


def test_a_shorter_copy_on_the_ray_made_of_fragments_is_no_world_rival():
  # stress seed 8004 (multicolour; a tuning seed), frames 21 -> 22: the map's shift (0.62, 835 long-run px) had a copy
  # at a third of it on its ray, at 0.32 with 55 long-run px (5 % of its confirmed pixels): refused as the map under a
  # faster world. On the tuning seeds such copies of a right shift hold at most 0.24 of the best's long runs and 0.16 of
  # their own pixels; the wrong shift whose copy holds the least (0.42, all long runs) is refused still
  assert_found(8004, 22)
  assert_right_or_refused(7802, 18, frames=30)


def test_an_aperture_offset_that_a_texture_explains_does_not_refuse_the_map():
  # stress seed 8039 (sea; a tuning seed), frames 1 -> 2: 8 px off the map's shift the sea's ripples agreed better
  # (0.49 over 0.40) on other pixels, with a quarter of its long runs. On the tuning seeds such offsets of a right
  # shift hold 0.06-0.29 of its long runs; the only wrong shift they let through is refused for long runs elsewhere
  assert_found(8039, 2)
  assert_right_or_refused(1040, 27, frames=30)


def test_a_tiled_ground_that_stood_still_says_the_player_did():
  # stress seed 1114 (multicolour, tiled every 512 px; a tuning seed), frames 2 -> 3: the player stood still, and the
  # ground's lattice fitted at 0 and both sides of it. The world moves parallax times the player's move, so a ground at
  # rest is a player at rest: on the tuning seeds a pair's best at no move was never wrong
  assert_found(1114, 3)


def test_a_relocation_right_after_the_pair_failed_may_stray_no_farther_than_the_pair():
  # stress seed 8111 (sea, parallax 1.3; session 9's report seed, looked at after its run), frame 27: the pair's
  # refinement strayed 3.9 px to the world's slightly faster shift and was refused, then the relocation, over the same
  # capture, strayed 3.55 px and placed the frame 3.7 px off
  assert_never_misplaced(8111, 30)


def test_a_passive_tree_that_meets_a_busy_frames_lines_at_a_low_share_is_refused():
  # stress seed 8205 (sea, parallax 5; session 9's report seed, looked at after its run), frame 20: the passive tree's
  # net of long lines met the sea frame's lines at 0.17 on 4294 px (the low-share path), 300 px off; the other way
  # (the tree's lines looked up in the sea frame) it agreed at 0.09, where right pairs on the tuning seeds agree at 0.11 or more
  s = make_session(8205 % 9, 8205, 30, look=random_look(8205), interruptions=3)
  assert s["kinds"][20] == "tree" and not s["kinds"][19]
  a, b = (to_pipeline_scale(f) for f in s["frames"][19:21])
  assert find_translation(a, b) is None


def assert_named_never_misplaced(family: str, seed: int, frames: int) -> None:
  """A session in the named look `family` (no interruptions), as bench/probe_fusion.py renders them: no accepted frame > 2 px off."""
  oks, errs = stitched(make_session(seed % 8, seed, frames, look=named_look(family, seed)))
  bad = [(t + 1, round(e, 1)) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0]
  assert not bad, f"frames placed > 2 px off: {bad}"


# Found by the fusion probe's multicolour sessions (seed 13013 in its tuning set, 13050 in its report set) in session 10, and
# fixed in session 11 (the two were strict xfail tests until then)
def test_a_small_move_over_a_world_three_times_faster_is_not_the_worlds_shift():
  # frame 9: the player moved 5 px and the world 15; the pair took the world's shift at 0.82, above the canvas
  # cross-check, and within the aperture's reach of the map's, where the pair's world rules don't look. The canvas's
  # persistent lines agree at 0.96 with the frame at 5 px and at 0.71 at 15 px
  assert_named_never_misplaced("multicolour", 13013, 11)


def test_a_relocation_over_a_tiled_ground_is_not_placed_at_a_lattice_node():
  # frame 21: after 4 refused frames a relocation landed 270 px off, where the canvas held no persistent line under the
  # frame and only the last frame's long lines (the tiled world's streaks, 84 % of them at a lattice node) vouched
  assert_named_never_misplaced("multicolour", 13050, 23)


def test_an_entrance_that_no_pair_places_is_placed_once_the_frames_after_it_stitch():
  # tuning seed 9000 (named spells look): spell strokes cover the entrance frame, which shows little of the map yet; its
  # pairs agree at 0.15 and less, and every frame was refused (the canvas never left the entrance). The frames after it
  # stitch among themselves into a second canvas, and the entrance relocated into that canvas twice alike places it
  s = make_session(9000 % 9, 9000, 4, look=named_look("spells", 9000))
  canvas: list = []
  oks, errs = stitched(s, canvas)
  assert oks == [False, False, True] and errs[-1] <= 2.0, (oks, errs)
  assert canvas[0].merges == 1 and canvas[0].accepted == 4


def test_a_second_canvas_is_merged_only_where_it_fits_twice_alike():
  # stress seed 8403 (fires; session 11's report seed, looked at after its run), frame 14: after another area's frame,
  # the three frames after it stitched into a second canvas, which fitted the canvas's lines at 0.92 on 184 px, 95
  # ½-scale px off, and every frame after was placed 190 px off. The next frame's fit lies elsewhere: two must agree
  assert_never_misplaced(8403, 30)


def test_a_second_canvas_that_fits_most_of_the_canvas_lines_twice_alike_is_merged():
  # stress seed 9044 (multicolour, a tuning seed): after a panel the player had walked 400 px; the frames after it
  # stitched into a second canvas that fitted the canvas's lines at 0.74, frame after frame, where they lie, and the
  # session ended lost when a merge needed 0.9. It is merged at frame 18
  s = make_session(9044 % 9, 9044, 30, look=random_look(9044), interruptions=3)
  oks, errs = stitched({"frames": s["frames"][:20], "positions": s["positions"][:20]})
  assert oks[17] and errs[17] <= 2.0 and oks[18], (oks, errs)
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs


def test_a_merge_on_few_line_pixels_needs_nearly_all_of_them():
  # stress seed 8511 (sea, parallax 8; session 11's report seed, looked at after its run), frame 16: a second canvas fitted
  # the canvas at 0.97 on 174 px twice alike, 545 px off; right merges on every seed seen confirm all they cover
  assert_never_misplaced(8511, 30)


def test_after_a_refused_frame_a_one_frame_canvas_is_checked_strictly():
  # named seed 9320 (multicolour, tiled; session 11's report seed, looked at after its run), frame 3: the first two
  # frames refused, the entrance's pair with the third fitted the tiled ground at a lattice node (0.50 on 2319 px, far
  # from the 800 px the player had walked) and the whole session was placed from it
  oks, errs = stitched(make_session(9320 % 9, 9320, 4, look=named_look("multicolour", 9320)))
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs


def test_spell_strokes_crossing_in_two_frames_do_not_pass_for_a_region_the_frame_hides():
  # named seed 9014 (spells; a tuning seed), frame 8: two frames' strokes crossed the same canvas pixels at a shallow
  # angle and left 134 px of "persistent" stretches in one ninth of frame 8's place, none of them map; the frame lacks
  # them and was refused as if a panel covered that ninth. A region is judged on lines hit in three counted frames
  oks, errs = stitched(make_session(9014 % 9, 9014, 10, look=named_look("spells", 9014)))
  assert oks[7] and errs[7] <= 2.0, (oks, errs)


def test_a_second_canvas_over_spell_strokes_is_merged_on_the_persistent_lines():
  # named seed 9014 (spells; a tuning seed), frames 10-11 refused: the second canvas they began agreed with the
  # canvas's lines seen once (the last frames' strokes among them) at 0.05-0.25 frame after frame, and the session
  # ended lost, 2249 px away. On the canvas's persistent lines it is merged at frame 12
  oks, errs = stitched(make_session(9014 % 9, 9014, 14, look=named_look("spells", 9014)))
  assert oks[11:] == [True, True] and max(errs[11:]) <= 2.0, (oks, errs)
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs


def test_a_second_canvas_is_merged_on_the_lines_seen_three_times_where_strokes_crossed_in_two():
  # named seed 9021 (spells; a tuning seed), frames 25-27 refused: the second canvas agreed with the canvas's lines seen
  # twice at 0.87 frame after frame (strokes that crossed in two frames among them), short of a merge's 0.9, and the
  # session ended lost. On the lines seen three times it is merged at frame 29
  oks, errs = stitched(make_session(9021 % 9, 9021, 30, look=named_look("spells", 9021)))
  assert oks[28] and errs[28] <= 2.0, (oks, errs)
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs


def test_a_pair_moved_along_the_canvas_lines_as_far_as_the_world_is_refused():
  # named seed 9530 (multicolour; session 12's report seed, looked at after its run), frame 22: the player moved 2 px
  # along horizontal map lines, the pair took the tiled world's 6 px (0.86), and the canvas's lines under the frame
  # agreed as well with no move at all (0.935 against 0.922): three frames were placed 4 px off
  oks, errs = stitched(make_session(9530 % 9, 9530, 23, look=named_look("multicolour", 9530)))
  assert not [(t + 1, e) for t, (ok, e) in enumerate(zip(oks, errs)) if ok and e > 2.0], errs
