"""Configs shipped inside the package, read with ``importlib.resources`` (so a wheel install has them).

``small``: trains in minutes on 2 CPU cores; ``small_44k``: ``small`` adapted to 44.1/48 kHz
recordings; ``engel2020_solo_instrument``: the solo-instrument autoencoder of Engel et al. 2020.
See ``torchddsp.training.config`` for the format (layers with ``include``, overrides).
"""
