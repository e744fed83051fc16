"""The one Markdown table writer of every report (pandas' to_markdown, tabulate's GitHub format)."""

from __future__ import annotations


def table(rows: list[dict[str, str]]) -> str:
    """Rows of already formatted cells, keyed by column header, as a Markdown table (columns in first-seen order)."""
    import pandas as pd

    columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pd.DataFrame(rows, columns=columns).fillna("—")
    return frame.to_markdown(index=False, tablefmt="github", disable_numparse=True)
