"""Training and evaluation, above the networks (models/) and the core (poemap/).

- `loop`      the one training skeleton both trainers run (fit): exact accumulated optimizer steps, keep-best checkpoints,
              a resume state and `--resume`, Ctrl+C at a step boundary
- `unetdata`  UNet training pairs: 32 px patches of the auto_crop_50/mask_50 groups, augmented
- `vitdata`   ViT training samples: layout masks seen through the fog of war along paths, made in a background process
- `report`    the evaluation report (ViT accuracy with a bootstrap interval, UNet line F1 against the colour filter)
Entry scripts: train_unet.py, train_vit.py, prepare_vit_data.py, evaluate.py.
"""
