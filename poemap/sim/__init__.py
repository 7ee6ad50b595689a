"""The synthetic Coast: a procedural stand-in for Path of Exile's Act 1 "The Coast".

- `layout`   make_layout(layout_id, seed) -> Layout: walkable area and map lines at 4K minimap scale
- `classes`  the nine macro-structures (three families sharing their first stretch)
- `player`   walk(layout, seed, n_frames) -> positions: a simulated player with hesitation and detours
- `render`   the game screen: world with distractors, parallax, fog of war, overlay minimap
- `session`  make_session / save_session / load_session: replays of captured centre squares
- `dataset`  writers for the published data directory (poemap.datadir)
- `guides`   guide images shown to the player
CLI: python -m poemap.sim {session,dataset,guides,pictures,baseline} --help
"""
