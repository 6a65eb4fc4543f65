"""A cost, line by line: what was counted at which price, and the dollars a month (None: named, not estimated)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CostLine:
    name: str
    quantity: str  # what was counted, at which price, and what is left out
    dollars: float | None  # per month; None: named but not estimated


@dataclass(frozen=True)
class Cost:
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return sum(line.dollars for line in self.lines if line.dollars is not None)

    def line(self, name: str) -> CostLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(f"no cost line {name!r}; lines: {[line.name for line in self.lines]}")

    def dollars(self, name: str) -> float:
        """A line's dollars; 0 when the line is absent or not estimated."""
        return next((line.dollars or 0.0 for line in self.lines if line.name == name), 0.0)

    def __add__(self, other: Cost) -> Cost:
        """Lines of both, those with the same name merged (their dollars summed)."""
        merged: dict[str, CostLine] = {line.name: line for line in self.lines}
        for line in other.lines:
            if line.name in merged:
                mine = merged[line.name]
                dollars = None if mine.dollars is None and line.dollars is None else \
                    (mine.dollars or 0.0) + (line.dollars or 0.0)
                merged[line.name] = CostLine(line.name, f"{mine.quantity}; {line.quantity}", dollars)
            else:
                merged[line.name] = line
        return Cost(tuple(merged.values()))
