"""Utterance categories of sepplug's data dirs, and the integer ids ESPnet gives them.

sepplug's data dirs carry ``utt2category``: ``easy`` / ``hard`` / ``both`` (SpatialVCTK,
:mod:`sepplug.datadir.kaldi_dir`) and ``fs`` (feature-suppressed utterances written by
``sepplug.bin.fs_apply``); the model-selection domains (:mod:`sepplug.simulate.domains`) write
``speech`` / ``music`` / ``env``. The MixIT data (:mod:`sepplug.recipes.mixit.make_data`) writes
none.

ESPnet's ``egs2/TEMPLATE/enh1/enh.sh`` (stage 6) adds ``utt2category,category,text`` to the
training inputs whenever both the train and valid dirs have that file, and ESPnet's
``EnhPreprocessor`` turns the string into an integer ``utt2category`` with the config's
``categories`` list. It first prefixes ``<C>ch_`` (C = channels of the mixture) to a name
that has no such prefix, so a config for 6-channel mixtures lists ``6ch_easy`` ...

This module holds the one list, in id order: the configs' ``categories`` must equal
:func:`espnet_categories` (a test checks it), and code that needs the ids (e.g.
:class:`sepplug.enh.preprocessor.feabase.FeabasePreprocessor`) uses the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sepplug.datadir.kaldi_dir import CATEGORIES as SUBSETS
from sepplug.datadir.kaldi_dir import FS_CATEGORY

__all__ = ["CATEGORIES", "DOMAINS", "FS_CATEGORY", "KNOWN", "SUBSETS", "base_category",
           "category_id", "category_ids", "espnet_categories", "espnet_name"]

#: every category of SpatialVCTK data; the integer id of a category is its index here
CATEGORIES: tuple[str, ...] = (*SUBSETS, FS_CATEGORY)
#: the audio domains of model selection (sepplug.simulate.domains): one category per domain dir
DOMAINS: tuple[str, ...] = ("speech", "music", "env")
#: every category a sepplug data dir may hold (what ``sepplug validate-data`` accepts)
KNOWN: tuple[str, ...] = (*CATEGORIES, *DOMAINS)

_CHANNEL_PREFIX = re.compile(r"\d+ch.*")


def espnet_name(category: str, num_channels: int) -> str:
    """The name ESPnet's ``EnhPreprocessor`` looks up for ``category`` of a C-channel mixture.

    ``easy`` -> ``6ch_easy`` for 6 channels; a name that already starts with ``<N>ch`` is
    kept, as ESPnet does.
    """
    if _CHANNEL_PREFIX.fullmatch(category):
        return category
    return f"{num_channels}ch_{category}"


def espnet_categories(num_channels: int) -> list[str]:
    """The ``categories:`` list of a config whose mixtures have ``num_channels`` channels.

    Its order is :data:`CATEGORIES`: ESPnet gives each name its position as integer id.
    """
    return [espnet_name(c, num_channels) for c in CATEGORIES]


def category_ids(categories: Sequence[str]) -> dict[str, int]:
    """Name -> integer id of a ``categories`` list, exactly as ESPnet numbers it.

    The first occurrence of a name gets the next id; repeats are skipped.
    """
    ids: dict[str, int] = {}
    for name in categories:
        if name not in ids:
            ids[name] = len(ids)
    return ids


def category_id(category: str, ids: Mapping[str, int], num_channels: int) -> int:
    """The id of a data-dir ``category`` in ``ids`` (from :func:`category_ids`).

    ESPnet's ``<C>ch_`` name is looked up (``categories: [6ch_easy, ...]``, what ESPnet's
    ``EnhPreprocessor`` accepts); a list of plain names (``[easy, hard, both]``) also works.
    Raises KeyError naming the category and the list when neither is there.
    """
    for name in (category, espnet_name(category, num_channels)):
        if name in ids:
            return ids[name]
    raise KeyError(f"category '{category}' ('{espnet_name(category, num_channels)}' for "
                   f"{num_channels}-channel audio) is not in categories {list(ids)}")


def base_category(name: str) -> str:
    """``6ch_easy`` -> ``easy``: the data-dir name of an ESPnet category name."""
    match = re.fullmatch(r"\d+ch_(.*)", name)
    return match.group(1) if match else name
