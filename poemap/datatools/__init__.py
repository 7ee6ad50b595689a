"""Data tools: what turns collected games and the published dataset into training data. They import
only the core (poemap.datadir and friends).

- `hub`       the published dataset and models from the Hugging Face hub (get_data.py)
- `labeling`  collected layouts and sessions into train/ and test/ (label_layout.py, label_data.py)
- `pathclip`  a yellow path drawn over a layout image into paths.npz (clip.py)
- `unetprep`  clean + noisy screenshots into UNet training pairs (prepare_unet_data.py)
"""
