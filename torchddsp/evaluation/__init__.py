"""Evaluation: resynthesis metrics (``metrics``), the HTML report (``report``) and plots (``plots``)."""

from torchddsp.evaluation import metrics, plots, report

__all__ = ["metrics", "plots", "report"]
