"""The command line's arguments, generated from the schema: one flag per ``Field`` (type, bounds, help), the video
options, the recipe and a parser whose errors are one line. Shared by every command (``cli.py``, the service's
``sweep``), so each flag is spelled and checked once.
"""

from __future__ import annotations

import argparse
import dataclasses

from .config import RECIPES, TRAIN_FIELDS, VIDEO_FIELDS, Field, Recipe, VideoConfig


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: --frames: must be between ...``) and exit code 2."""

    def error(self, message: str):
        line = message.splitlines()[0]
        if "--coupling: expected one argument" in line:  # argparse reads '-sum(...)' as a flag
            line += "; an expression that starts with '-' is written --coupling='-sum(abs(z - zp)) / theta'"
        self.exit(2, f"error: {line}\n")


def bounded(f: Field):
    """An argparse type for field ``f``: its canonical value, or a one-line error naming the flag."""

    def parse(text: str):
        try:
            return f.parse(text, f.cli)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{f.cli}: ")) from None

    parse.__name__ = f.kind.__name__
    return parse


def add_fields(group, fields, defaults: dict, skip=(), default_text: str | None = None) -> None:
    """One argument per schema field (``VIDEO_FIELDS`` / ``TRAIN_FIELDS``): flag, type, bounds and help. With
    ``default_text`` every default is None and the help says where the value comes from (e.g. "the recipe's")."""
    for f in fields:
        if f.name in skip:
            continue
        default = None if default_text else defaults.get(f.name)
        if default_text:
            shown = default_text
        elif f.optional and default is None:
            shown = "one diameter" if f.name == "step" else "none"
        else:
            shown = "%(default)s"
        group.add_argument(
            f.cli,
            dest=f.name if f not in TRAIN_FIELDS else f"train_{f.name}",
            type=bounded(f),
            default=default,
            metavar=f.name.upper(),
            help=f"{f.help} (between {f.bounds}; default {shown})",
        )


def add_recipe(p: argparse.ArgumentParser, default: str) -> None:
    """``--recipe quick|paper``: the video, epochs, SGD settings and starting values a run gets unless flags say
    otherwise (``config.RECIPES``)."""
    p.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=default,
        help="quick: the app's 512 frames of 64 px, θ learned at its own rate 0.5; paper: App. D exactly "
        "(900 frames of 256 px, one learning rate); flags below override it (default %(default)s)",
    )


def add_video_options(p: argparse.ArgumentParser, defaults: VideoConfig | None = None) -> None:
    """The video's flags; with no ``defaults`` they default to the recipe's video (``video_config``)."""
    g = p.add_argument_group("video options")
    if defaults is None:
        add_fields(g, VIDEO_FIELDS, {}, default_text="the recipe's")
    else:
        add_fields(g, VIDEO_FIELDS, dataclasses.asdict(defaults))


def add_train_options(p: argparse.ArgumentParser, skip=()) -> None:
    """The training flags (``TRAIN_FIELDS``), each defaulting to the recipe's value."""
    add_fields(p.add_argument_group("training options"), TRAIN_FIELDS, {}, skip=skip, default_text="the recipe's")


def recipe(a: argparse.Namespace) -> Recipe:
    return RECIPES[getattr(a, "recipe", None) or "paper"]


def video_config(a: argparse.Namespace, base: VideoConfig | None = None) -> VideoConfig:
    """The video the flags ask for: ``base`` (default: the recipe's video) with every flag given replacing its field."""
    base = base or recipe(a).video
    given = {f.name: getattr(a, f.name) for f in VIDEO_FIELDS if getattr(a, f.name, None) is not None}
    return dataclasses.replace(base, **given)


def train_settings(a: argparse.Namespace, skip=()) -> dict:
    """The training flags that were given (name -> value); the recipe supplies the rest."""
    out = {}
    for f in TRAIN_FIELDS:
        if f.name in skip:
            continue
        v = getattr(a, f"train_{f.name}", None)
        if v is not None:
            out[f.name] = v
    return out


__all__ = [
    "Parser",
    "add_fields",
    "add_recipe",
    "add_train_options",
    "add_video_options",
    "bounded",
    "recipe",
    "train_settings",
    "video_config",
]
