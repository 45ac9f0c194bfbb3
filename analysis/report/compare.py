"""A value of this warehouse beside the note's, and how both and their difference are written.

Pure formatting: no warehouse access. The templates show :attr:`Comparison.ours_text`,
:attr:`Comparison.note_text` and :attr:`Comparison.difference_text`; the queries decide what is compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NONE = "\u2014"  # an em dash: the note does not report this measure (or there is no value)


def count(value: Any) -> str:
    """An integer with thousands separators; — for None."""
    return NONE if value is None else f"{int(value):,}"


def score(value: Any) -> str:
    """A retrieval score, three places; — for None."""
    return NONE if value is None else f"{value:.3f}"


def _decimals(value: float) -> int:
    """Decimal places of a reported number as the note writes it (0.217 → 3, 262.0 → 1, 5000 → 0)."""
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _signed(value: float, decimals: int) -> str:
    if decimals == 0:
        return "0" if value == 0 else f"{value:+,.0f}"
    text = f"{value:+,.{decimals}f}"
    return "0" if float(text) == 0 else text


@dataclass(frozen=True)
class Comparison:
    """One line of a comparison table: measure | this warehouse | note | difference."""

    name: str
    ours: Any
    reported: Any = None
    kind: str = "int"  # int | float | share (a fraction shown in %) | text | sci
    decimals: int | None = None  # for float / share: places of our value when the note has none
    note_decimals: int | None = None  # places the note gives (default: as the value is written)

    def _note_places(self) -> int:
        if self.note_decimals is not None:
            return self.note_decimals
        scale = 100 if self.kind == "share" else 1
        return _decimals(round(self.reported * scale, 6))

    def _places(self) -> int:
        """Our value gets more places than the note gives (two; one for a percentage), so that the
        difference shows."""
        if self.reported is not None and self.kind in ("float", "share"):
            return self._note_places() + (1 if self.kind == "share" else 2)
        return 2 if self.decimals is None else self.decimals

    def _format(self, value: Any, places: int) -> str:
        if value is None:
            return NONE
        if self.kind == "int":
            return count(value)
        if self.kind == "float":
            return f"{value:,.{places}f}"
        if self.kind == "share":
            return f"{100 * value:.{places}f} %"
        if self.kind == "sci":
            return f"{value:.3g}"
        return str(value)

    @property
    def ours_text(self) -> str:
        return self._format(self.ours, self._places())

    @property
    def note_text(self) -> str:
        return NONE if self.reported is None else self._format(self.reported, self._note_places())

    @property
    def difference_text(self) -> str:
        if self.reported is None or self.ours is None or self.kind in ("text", "sci"):
            return NONE
        if self.kind == "int":
            diff = int(self.ours) - int(self.reported)
            if diff and self.reported:
                return f"{diff:+,} ({100 * diff / abs(self.reported):+.3g} %)"
            return _signed(diff, 0)
        if self.kind == "share":
            return f"{_signed(100 * (self.ours - self.reported), self._places())} pp"
        return _signed(self.ours - self.reported, self._places())

    @property
    def cells(self) -> list[str]:
        return [self.name, self.ours_text, self.note_text, self.difference_text]
