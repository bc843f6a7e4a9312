"""Entry-point registry: the only module that touches ESPnet's choice tables.

Every component is declared as a Python entry point in a group named after the
ESPnet enh choice table it belongs to (``espnet2.enh.separator`` ...).
:func:`register_all` loads the entry points of *every* installed distribution
(sepplug and third parties) and adds them to the module-level ``ClassChoices``
objects of :mod:`espnet2.tasks.enh`, so that a YAML config can name them.

ESPnet facts this module relies on (espnet 202511):

* ``ClassChoices.get_class`` lower-cases the requested name but indexes the raw
  one, so keys must be lowercase;
* argparse copies the choice lists when the parser is built: register first;
* ``espnet2.tasks.enh_s2t`` deep-copies the enh tables at import time, so the
  copies are updated too when that module is already loaded.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

logger = logging.getLogger(__name__)

#: entry-point group -> name of the ClassChoices object in espnet2.tasks.enh
GROUP_TO_TABLE: dict[str, str] = {
    "espnet2.enh.encoder": "encoder_choices",
    "espnet2.enh.separator": "separator_choices",
    "espnet2.enh.decoder": "decoder_choices",
    "espnet2.enh.mask_module": "mask_module_choices",
    "espnet2.enh.loss_wrapper": "loss_wrapper_choices",
    "espnet2.enh.criterion": "criterion_choices",
    "espnet2.enh.preprocessor": "preprocessor_choices",
}

#: copies of the enh tables that espnet2.tasks.enh_s2t makes at import time
_ENH_S2T_COPIES: dict[str, str] = {
    "encoder_choices": "enh_encoder_choices",
    "separator_choices": "enh_separator_choices",
    "decoder_choices": "enh_decoder_choices",
    "mask_module_choices": "enh_mask_module_choices",
}


class PluginCollisionError(RuntimeError):
    """A plugin name is already taken by a stock ESPnet or another plugin component."""


@dataclass(frozen=True)
class PluginRecord:
    """Where one registered component comes from."""

    table: str
    name: str
    cls: type
    distribution: str
    entry_point: str


@dataclass
class RegistryState:
    """What :func:`register_all` has done so far in this process."""

    stock: dict[str, frozenset[str]] = field(default_factory=dict)
    plugins: dict[tuple[str, str], PluginRecord] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)


_STATE = RegistryState()


def _tables() -> dict[str, object]:
    from sepplug.utils.offline import prepare_espnet_import

    prepare_espnet_import()  # quiet and fast ESPnet start, whoever imports it first
    import espnet2.tasks.enh as enh_task

    return {t: getattr(enh_task, t) for t in GROUP_TO_TABLE.values()}


def _snapshot_stock(tables: dict[str, object]) -> None:
    """Remember the stock names once, before any plugin is added."""
    if not _STATE.stock:
        for table_name, table in tables.items():
            _STATE.stock[table_name] = frozenset(table.classes)


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "?"


def _check_collision(table_name: str, key: str, ep: EntryPoint, table) -> None:
    previous = _STATE.plugins.get((table_name, key))
    if key in _STATE.stock[table_name]:
        stock_cls = table.classes[key]
        raise PluginCollisionError(
            f"plugin '{key}' ({ep.value}, from distribution "
            f"'{_distribution_name(ep)}') collides with the stock ESPnet component "
            f"'{key}' ({stock_cls.__module__}.{stock_cls.__qualname__}) in {table_name}"
        )
    if previous is not None and previous.entry_point != ep.value:
        raise PluginCollisionError(
            f"plugin '{key}' ({ep.value}, from '{_distribution_name(ep)}') collides with "
            f"plugin '{key}' ({previous.entry_point}, from '{previous.distribution}') "
            f"in {table_name}"
        )


def _load(ep: EntryPoint, group: str) -> type | None:
    try:
        return ep.load()
    except Exception as exc:  # a broken plugin must not take the others down
        msg = (
            f"sepplug: plugin entry point '{ep.name} = {ep.value}' in group '{group}' "
            f"(distribution '{_distribution_name(ep)}') failed to load: "
            f"{type(exc).__name__}: {exc}"
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        logger.warning(msg)
        _STATE.failures.append((f"{group}:{ep.name}", f"{type(exc).__name__}: {exc}"))
        return None


def register_all() -> RegistryState:
    """Add every installed entry-point component to ESPnet's enh choice tables.

    Idempotent: a second call re-adds nothing. Raises :class:`PluginCollisionError`
    when a plugin's name is already used by a stock component or another plugin.
    Plugins that fail to import are reported (warning) and skipped.
    """
    tables = _tables()
    _snapshot_stock(tables)
    s2t = sys.modules.get("espnet2.tasks.enh_s2t")
    for group, table_name in GROUP_TO_TABLE.items():
        table = tables[table_name]
        for ep in entry_points(group=group):
            key = ep.name.lower()
            _check_collision(table_name, key, ep, table)
            if (table_name, key) in _STATE.plugins:
                continue
            cls = _load(ep, group)
            if cls is None:
                continue
            base = getattr(table, "base_type", None)
            if base is not None and not issubclass(cls, base):
                warnings.warn(
                    f"sepplug: plugin '{key}' ({ep.value}) is not a subclass of "
                    f"{base.__name__}; skipped",
                    RuntimeWarning,
                    stacklevel=2,
                )
                _STATE.failures.append((f"{group}:{ep.name}", f"not a {base.__name__}"))
                continue
            table.classes[key] = cls
            if s2t is not None and table_name in _ENH_S2T_COPIES:
                getattr(s2t, _ENH_S2T_COPIES[table_name]).classes[key] = cls
            _STATE.plugins[(table_name, key)] = PluginRecord(
                table_name, key, cls, _distribution_name(ep), ep.value
            )
    return _STATE


def plugin_records() -> list[PluginRecord]:
    """Components added by :func:`register_all`, in registration order."""
    return list(_STATE.plugins.values())


def plugin_preprocessor_names() -> frozenset[str]:
    """Names of preprocessors that came from plugins (not ESPnet's stock two)."""
    return frozenset(k for (t, k) in _STATE.plugins if t == "preprocessor_choices")
