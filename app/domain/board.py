"""The dashboard file: how each card reads (label, unit, format), where it sits, when it is bad.

A team describes its board once, in TOML checked into its repo, instead of sending labels
with every point. Everything here is pure: decoding (strict: a typo stops start-up with one
line naming the key and the card), formatting a value, and deciding a card's state from its
value, its staleness and its thresholds. The same functions run for the first page, a
snapshot and every stream frame, so a card reads the same everywhere.

The meaning of the file lives here, with the domain, because the card partial, the fold and
the alert rules all need it; settings only name the file (`LIVEDASH_CONFIG`).
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from app.domain.model import NAME_PATTERN

CardName = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Level = Literal["ok", "warning", "critical"]
CardState = Literal["ok", "warning", "critical", "stale"]
SEVERITY_RANK: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2}
NAME_RULE = "a metric name is 1 to 64 of a-z, 0-9, '_', '.', '-'"
_REGEX_RULE = f"Expected `str` matching regex {NAME_PATTERN!r}"
RULE_PREFIX = "rule-"
"""Alert ids of the rules are `rule-<metric>`; the API refuses ids with this prefix, so a rule
never touches an alert a person or program raised."""


class BoardError(ValueError):
    """The dashboard file cannot be used; the message names the file, the key and the card."""


class Card(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How one card reads and when it is bad. Every key is optional."""

    label: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None
    """Shown instead of the metric's name."""
    unit: Annotated[str, msgspec.Meta(max_length=16)] = ""
    """Shown beside the value (number format); for `duration`, the unit the value is in."""
    format: Literal["number", "percent", "bytes", "duration"] = "number"
    decimals: Annotated[int, msgspec.Meta(ge=0, le=6)] | None = None
    compact: bool = True
    """Numbers from a million on read as 1.2M, 3.4G, ... instead of all their digits."""
    warn: float | None = None
    crit: float | None = None
    bad: Literal["high", "low"] = "high"
    """`high`: a value at or above a threshold is bad; `low`: at or below."""
    stale_after: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Seconds without a point after which the card is stale (pushed by the server)."""
    alert: bool = False
    """Crossing warn/crit raises a banner (`rule-<metric>`); back to ok resolves it."""
    for_: Annotated[float, msgspec.Meta(ge=0)] = msgspec.field(default=0.0, name="for")
    """Seconds a worse level must last before the rule raises (or escalates) its banner."""
    hysteresis: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """How far back past a threshold a value must go before the rule lowers or resolves."""
    history: Annotated[int, msgspec.Meta(ge=900, le=31_536_000)] | None = None
    """Seconds of history kept for this card (default: `LIVEDASH_HISTORY_SECONDS`)."""

    def level(self, value: float, slack: float = 0.0) -> Level:
        """ok, warning or critical for `value`; `slack` moves the thresholds towards good."""
        sign = 1.0 if self.bad == "high" else -1.0
        if self.crit is not None and sign * (value - self.crit) >= -slack:
            return "critical"
        if self.warn is not None and sign * (value - self.warn) >= -slack:
            return "warning"
        return "ok"

    def state(self, value: float | None, stale: bool) -> CardState:
        """What the card's `data-state` says: stale wins over any level (an old value is not news)."""
        if stale or value is None:
            return "stale"
        return self.level(value)

    def parts(self, value: float) -> tuple[str, str]:
        """The value as (number, unit) for reading: `("1,234", "ms")`, `("52.3", "%")`."""
        value = float(value)
        if not math.isfinite(value):
            return str(value), self.unit
        if self.format == "percent":
            return _fixed(value * 100, 1 if self.decimals is None else self.decimals), "%"
        if self.format == "bytes":
            return _bytes(value, self.decimals)
        if self.format == "duration":
            return _duration(value * _SECONDS.get(self.unit or "s", 1.0), self.decimals)
        return _number(value, self.decimals, self.compact), self.unit

    def check(self) -> str | None:
        """What makes this card impossible, as `key: reason`, or None."""
        if self.warn is not None and self.crit is not None:
            beyond = self.warn > self.crit if self.bad == "high" else self.warn < self.crit
            if beyond:
                side = "above" if self.bad == "high" else "below"
                return f'warn: {self.warn:g} is {side} crit {self.crit:g}, but bad = "{self.bad}"'
        if self.alert and self.warn is None and self.crit is None:
            return "alert: needs warn or crit to alert on"
        if self.format == "duration" and self.unit and self.unit not in _SECONDS:
            return f"unit: a duration is in one of {', '.join(_SECONDS)}, not {self.unit!r}"
        return None


DEFAULT_CARD = Card()


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A titled group of cards, in page order."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    cards: list[CardName] = []


class Board(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole file. An empty board is what livedash shows without one."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None
    sections: list[Section] = []
    cards: dict[CardName, Card] = {}

    def card(self, name: str) -> Card:
        """The configuration of `name` (the defaults for a metric the file does not mention)."""
        return self.cards.get(name, DEFAULT_CARD)

    def placed(self) -> frozenset[str]:
        """Names that have a place in a section (the others go after the sections)."""
        return frozenset(name for section in self.sections for name in section.cards)

    def history_retention(self) -> dict[str, int]:
        """Cards whose history is kept for other than the default, in seconds."""
        return {name: card.history for name, card in self.cards.items() if card.history is not None}

    def watched(self) -> dict[str, Card]:
        """Cards the server must watch: those that go stale or alert."""
        return {name: card for name, card in self.cards.items() if card.stale_after or card.alert}

    def check(self) -> str | None:
        """What makes the board impossible, as `key: reason`, or None."""
        seen: dict[str, int] = {}
        for index, section in enumerate(self.sections):
            for name in section.cards:
                if name in seen:
                    return f"sections[{index}].cards: {name!r} is already in sections[{seen[name]}]"
                seen[name] = index
        for name, card in self.cards.items():
            problem = card.check()
            if problem:
                return f"cards.{name}.{problem}"
        return None


def decode_board(text: str, source: str = "dashboard.toml") -> Board:
    """Decode the TOML `text` strictly; `BoardError` names `source`, the key and the card."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"{source}: not valid TOML: {exc}") from None
    cards = raw.get("cards")
    try:
        board = msgspec.convert(raw, Board, strict=True)
    except msgspec.ValidationError as exc:
        # msgspec says `$.cards[...]` for a card's key: decode the cards one by one to name it.
        if isinstance(cards, dict):
            for name, card in cards.items():
                _convert(card, Card, f"{source}: cards.{name}")
                if not re.fullmatch(NAME_PATTERN, name):
                    raise BoardError(f"{source}: cards.{name}: {NAME_RULE}") from None
        raise BoardError(f"{source}: {_where(str(exc))}") from None
    problem = board.check()
    if problem:
        raise BoardError(f"{source}: {problem}")
    return board


def load_board(path: str) -> Board:
    """Read and decode the file at `path`; `BoardError` if it is missing or wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(
            f"LIVEDASH_CONFIG: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return decode_board(text, path)


def _convert(raw: object, type_: type[Card], where: str) -> None:
    try:
        msgspec.convert(raw, type_, strict=True)
    except msgspec.ValidationError as exc:
        detail = _where(str(exc))
        raise BoardError(
            f"{where}{'' if detail.startswith('file:') else '.'}{detail.removeprefix('file')}"
        ) from None


def _where(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.cards.x.decimals`" -> "cards.x.decimals: ..."."""
    text, _, at = message.partition(" - at `")
    path = at.rstrip("`")
    if path.startswith("key") and " in `" in path:  # "key `X` in `$.cards`"
        path = path.split(" in `")[-1]
    path = path.removeprefix("$").removeprefix(".")
    unknown = "Object contains unknown field "
    if text.startswith(unknown):
        field = text.removeprefix(unknown).strip("`")
        return f"{path + '.' if path else ''}{field}: unknown key"
    missing = "Object missing required field "
    if text.startswith(missing):
        field = text.removeprefix(missing).strip("`")
        return f"{path + '.' if path else ''}{field}: required"
    return f"{path or 'file'}: {text.replace(_REGEX_RULE, NAME_RULE)}"


def _fixed(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


_COMPACT = ((1e12, "T"), (1e9, "G"), (1e6, "M"))


def _number(value: float, decimals: int | None, compact: bool) -> str:
    magnitude = abs(value)
    if compact and magnitude >= 1e15:  # past "999.9T": scientific, so the number stays short
        return f"{value:.3g}"
    if compact and magnitude >= 1e6:
        for limit, suffix in _COMPACT:
            if magnitude >= limit:
                return f"{_fixed(value / limit, 1 if decimals is None else decimals)}{suffix}"
    if decimals is not None:
        return _fixed(value, decimals)
    if value.is_integer():
        return f"{int(value):,}"
    if magnitude >= 100:
        return _fixed(value, 1)
    if magnitude >= 1:
        return _fixed(value, 2)
    return f"{value:.3g}"


_BYTES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _bytes(value: float, decimals: int | None) -> tuple[str, str]:
    scaled, index = value, 0
    while abs(scaled) >= 1024 and index < len(_BYTES) - 1:
        scaled /= 1024
        index += 1
    if index == 0:
        return _fixed(scaled, 0 if decimals is None else decimals), "B"
    return _fixed(scaled, 1 if decimals is None else decimals), _BYTES[index]


_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}


def _duration(seconds: float, decimals: int | None) -> tuple[str, str]:
    magnitude = abs(seconds)
    if magnitude < 1:
        return _fixed(seconds * 1000, 0 if decimals is None else decimals), "ms"
    if magnitude < 60:
        return _fixed(seconds, 1 if decimals is None else decimals), "s"
    if magnitude < 3600:
        return _fixed(seconds / 60, 1 if decimals is None else decimals), "min"
    return _fixed(seconds / 3600, 1 if decimals is None else decimals), "h"
