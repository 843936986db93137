"""Cutout & CutMix course module: reference implementations for every stage of the pipeline.

data -> augment -> train (uses model) -> trace / plots; widgets, checks and quiz serve the notebooks.
"""
__version__ = "0.1.0"
