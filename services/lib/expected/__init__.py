"""Expected-value filling: hourly readings without an expected value (data core) -> the ML engine's
expected values and intervals -> stored next to the actuals (data core). See :mod:`.fill`."""

from services.lib.expected.fill import fill_page, list_pending, new_summary, predict_with, store_with

__all__ = ["fill_page", "list_pending", "new_summary", "predict_with", "store_with"]
