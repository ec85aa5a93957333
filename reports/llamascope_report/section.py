"""What a report section hands to the renderers: a title, paragraphs, figures and tables."""
from dataclasses import dataclass, field


@dataclass
class Table:
    header: list
    rows: list  # lists of cells (str or numbers)
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list = field(default_factory=list)
    figures: list = field(default_factory=list)  # figures.Figure
    tables: list = field(default_factory=list)
    links: list = field(default_factory=list)  # (text, relative path)


def fmt_num(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) < 0.01:
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g}"
