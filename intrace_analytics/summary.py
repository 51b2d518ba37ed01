"""Where :func:`summary_text` used to live; it is now in :mod:`intrace_analytics.report`.

The text summary and the HTML report share one formatter and one module
(:mod:`~intrace_analytics.report`); this module keeps ``from intrace_analytics.summary
import summary_text`` working for code written against earlier versions.
"""

from __future__ import annotations

from intrace_analytics.report import summary_text

__all__ = ["summary_text"]
