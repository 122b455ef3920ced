"""The application layer: the ``torchddsp`` command (``cli``), the demo and the resynthesis,
transfer and evaluation workflows (``workflows``), and loading a trained run for inference
(``inference``)."""
