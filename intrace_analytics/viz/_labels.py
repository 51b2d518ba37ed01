"""Words for the API's codes, wherever a figure, table or summary shows them.

Free of matplotlib, so the report's tables and the text summary use the same words as
the figures without drawing anything.
"""

from __future__ import annotations

from intrace_analytics._util import format as fmt

__all__ = ["threat_type_label"]


def threat_type_label(value: object) -> str:
    """A threat type in words: the API's codes are snake_case (``crime_violence``),
    which readers should not have to decode.

    Underscores become spaces and the first letter is capitalised; the rest stays as
    received, so a type already in words is unchanged. A missing type is
    :data:`~intrace_analytics._util.format.MISSING`.

    Examples
    --------
    >>> threat_type_label("crime_violence"), threat_type_label("Cyber attack")
    ('Crime violence', 'Cyber attack')
    >>> threat_type_label(None)
    '(missing)'
    """
    text = fmt.label(value)
    if text == fmt.MISSING:
        return text
    words = " ".join(text.replace("_", " ").split())
    return words[:1].upper() + words[1:]
