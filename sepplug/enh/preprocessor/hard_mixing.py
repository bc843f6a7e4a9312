"""Dynamic mixing with hard re-sampling: ESPnet's ``dynamic_mixing`` + hard speaker pairs.

Global hard-sample mining ("Mining hard samples locally and globally", sec. 2.4): under
dynamic mixing, draw the partner of a training utterance from the speakers that make a
hard pair with its speaker more often than uniform sampling would. Which pairs are hard is
predicted offline from speaker parameters (:mod:`sepplug.recipes.hard_mining.speaker_params`,
:mod:`sepplug.recipes.hard_mining.hardness`: the pair table TSV).

ESPnet's :class:`DynamicMixingPreprocessor` keeps the loaded source (``speech_ref1``, the
"anchor") and draws ``ref_num - 1`` partner utterances in ``_pick_source_utterances_``:
uniformly over the source list's utterances, rejecting the anchor's speaker (after 10
rejections it gives up and takes the same speaker, with a warning). This subclass replaces
only that draw; loading, gains and mixing are ESPnet's. Each partner is drawn

* with probability ``hard_share``: a speaker uniformly from the anchor speaker's hard
  partners not drawn yet, then one of its utterances uniformly;
* otherwise (and when the anchor has no hard partner left): uniformly over the
  utterances of speakers not drawn yet — ESPnet's distribution without its same-speaker
  fallback (a speaker is never mixed with itself; construction fails with fewer than
  ``ref_num`` speakers).

With ``hard_share = 0`` the draw is ESPnet's distribution (different random numbers).
:attr:`HardMixingPreprocessor.draw_counts` counts the branches (``hard``, ``uniform``,
``no_hard_partner``: a hard try that fell back to uniform, also counted in ``uniform``). The
counts live in shared memory made by the constructor, so the draws of DataLoader workers
(forked from the main process for every epoch) are counted too; a training preprocessor
registers with :mod:`sepplug.train.epoch_reports`, and the trainer logs
:meth:`HardMixingPreprocessor.epoch_report` after each epoch: ``hard_dm partner draws: hard
120 (60.0 %), uniform 80 (40.0 %), no hard partner 2 (1.0 %, in uniform)`` (draws since the
last report; batches a worker prefetched past the epoch's end count in the epoch that drew
them).

Outside training (validation, inference) :meth:`HardMixingPreprocessor.from_task_args`
builds :class:`~sepplug.enh.preprocessor.outside_training.OutsideTrainingMixing`, ESPnet's
``train=False`` behaviour without reading the source list, ``utt2spk`` or the pair table: a
model separates after its training data dir is gone.

Hard partners: the pair table's rows whose two speakers are both in the source list; a
pair is hard when its ``hardness`` is in the top ``hard_quantile`` — of all those rows
(``hard_scope: global``, the paper's global mining; a speaker may then have no hard
partner) or of each anchor's rows (``hard_scope: anchor``: every speaker gets at least
ceil(q (S - 1)) hard partners, more when hardness ties). Lists are built once at
construction.

Seeding: each draw uses its own generator seeded with ``(seed, epoch, visit, hash(uid))``
as ``spatial_dm`` does (the same epoch hook; see
:mod:`sepplug.enh.preprocessor.spatial_dm`), so draws do not depend on DataLoader
workers. Under DDP (more than one process) the rank is appended to that seed
(:meth:`HardMixingPreprocessor.set_rank`; :mod:`sepplug.train.distributed`), so ranks draw
different partners; a single process draws exactly as without it. ESPnet's gains
(``dynamic_mixing_gain_db``) still use Python's ``random``, which ESPnet seeds per epoch and
worker (alike in every rank).

YAML (``--utt2spk`` must map the source list's utterances to real speakers)::

    preprocessor: hard_dm
    preprocessor_conf:
        source_scp_name: spk1.scp       # beside the training wav.scp, as ESPnet's
        pair_table: exp/spk/pairs.tsv   # python -m sepplug.recipes.hard_mining.hardness ...
        hard_share: 0.5
        hard_quantile: 0.2
        hard_scope: global
        seed: 0
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np
from espnet2.train.preprocessor import DynamicMixingPreprocessor

from sepplug.enh.preprocessor.outside_training import OutsideTrainingMixing
from sepplug.enh.preprocessor.spatial_dm import install_epoch_hook
from sepplug.errors import DataError
from sepplug.mixing.pair_table import hard_mask, missing_speakers, read_pair_table
from sepplug.train import epoch_reports
from sepplug.train.distributed import rank_and_world_size, rank_seed_words

HARD_SCOPES = ("global", "anchor")
#: the partner-draw branches counted in :attr:`HardMixingPreprocessor.draw_counts`
BRANCHES = ("hard", "uniform", "no_hard_partner")
_MAX_REJECTIONS = 1000  # then list the allowed utterances explicitly (rare: few speakers)


class HardMixingPreprocessor(DynamicMixingPreprocessor):
    """ESPnet's dynamic mixing whose partner draw favours hard speaker pairs (module doc).

    Args:
        train, source_scp, ref_num, dynamic_mixing_gain_db, speech_name,
            speech_ref_name_prefix, mixture_source_name, utt2spk, categories: as ESPnet's
            ``DynamicMixingPreprocessor`` (only ``train=True`` mixes, and registers for
            :meth:`epoch_report`; the task builds an ``OutsideTrainingMixing`` instead of a
            ``train=False`` one: see :meth:`from_task_args`).
        pair_table: pair-table TSV (``spk1 spk2 ... hardness``); required when
            ``hard_share > 0``; every speaker of ``utt2spk`` must be in it.
        hard_share: probability in [0, 1] that a partner is drawn from the anchor's hard
            partners.
        hard_quantile: in (0, 1]: the top share of pairs by hardness that is hard.
        hard_scope: ``global`` or ``anchor`` (where the quantile is taken).
        seed: seed of the partner draws.
    """

    def __init__(
        self,
        train: bool,
        source_scp: str | None = None,
        ref_num: int = 2,
        dynamic_mixing_gain_db: float = 0.0,
        speech_name: str = "speech_mix",
        speech_ref_name_prefix: str = "speech_ref",
        mixture_source_name: str | None = None,
        utt2spk: str | None = None,
        categories: Sequence[str] | None = None,
        pair_table: str | None = None,
        hard_share: float = 0.0,
        hard_quantile: float = 0.2,
        hard_scope: str = "global",
        seed: int = 0,
    ) -> None:
        if source_scp is not None and not os.path.isfile(source_scp):
            raise DataError(f"hard_dm preprocessor: source_scp {source_scp} does not exist")
        if utt2spk is not None and not os.path.isfile(utt2spk):
            raise DataError(f"hard_dm preprocessor: utt2spk {utt2spk} does not exist")
        try:
            super().__init__(train, source_scp, ref_num, dynamic_mixing_gain_db, speech_name,
                             speech_ref_name_prefix, mixture_source_name, utt2spk,
                             list(categories) if categories else None)
        except AssertionError as exc:  # ESPnet checks its inputs with bare asserts
            raise DataError(f"hard_dm preprocessor: ESPnet refused source_scp {source_scp} / "
                            f"utt2spk {utt2spk}: no source_scp, a line that is not "
                            f"'<key> <value>', or a source key missing from utt2spk") from exc
        if not 0 <= hard_share <= 1 or hard_scope not in HARD_SCOPES:
            raise ValueError(f"hard_dm preprocessor: need 0 <= hard_share <= 1 and hard_scope "
                             f"in {HARD_SCOPES}, got {hard_share} and {hard_scope!r}")
        self.hard_share, self.seed = float(hard_share), int(seed)
        self.rank_seed: tuple[int, ...] = ()  # set_rank: empty for one process
        self.epoch: int | None = None
        self._visits: Counter[str] = Counter()
        # per branch, shared with DataLoader workers (forked after construction)
        self._counts = multiprocessing.Array("q", len(BRANCHES))
        self._reported = [0] * len(BRANCHES)  # counts at the last epoch_report()
        self.spk_utts: dict[str, list[str]] = {}  # speaker -> its source keys
        for key in self.source_keys:
            self.spk_utts.setdefault(self.utt2spk[key], []).append(key)
        self.hard_partners: dict[str, list[str]] = {}
        if not train:
            return
        # (only training mixes: stats collection and inference build it without a table)
        if hard_share > 0 and pair_table is None:
            raise ValueError("hard_dm preprocessor: hard_share > 0 needs a pair_table")
        if len(self.spk_utts) < ref_num:
            raise DataError(f"hard_dm preprocessor: {source_scp} has {len(self.spk_utts)} "
                            f"speakers, a mixture needs {ref_num} different ones")
        if pair_table is not None:
            self.hard_partners = self._hard_partners(pair_table, hard_quantile, hard_scope,
                                                     utt2spk)
        epoch_reports.register(self)  # the trainer logs epoch_report()

    def _hard_partners(self, path: str, quantile: float, scope: str,
                       utt2spk: str | None) -> dict[str, list[str]]:
        """Anchor speaker -> its hard partner speakers (each with source utterances)."""
        table = read_pair_table(path)
        missing = missing_speakers(table, list(self.spk_utts))
        if missing:
            hint = f"utt2spk {utt2spk}" if utt2spk else "no utt2spk: utterance ids as speakers"
            raise DataError(f"hard_dm preprocessor: speaker {missing[0]} ({hint}) is not in "
                            f"pair table {path} ({len(missing)} such)")
        keep = np.array([a in self.spk_utts and b in self.spk_utts
                         for a, b in zip(table.spk1, table.spk2, strict=True)])
        rows = np.flatnonzero(keep)
        spk1, spk2 = np.array(table.spk1)[rows], np.array(table.spk2)[rows]
        hardness = table.hardness[rows]
        if scope == "global":
            hard = hard_mask(hardness, quantile)
        else:
            hard = np.zeros(len(rows), dtype=bool)
            for anchor in self.spk_utts:
                own = spk1 == anchor
                hard[own] = hard_mask(hardness[own], quantile)
        partners: dict[str, list[str]] = {s: [] for s in self.spk_utts}
        for a, b in zip(spk1[hard], spk2[hard], strict=True):
            partners[str(a)].append(str(b))
        return {a: sorted(set(b)) for a, b in partners.items()}

    @classmethod
    def from_task_args(cls, args: argparse.Namespace,
                       train: bool) -> HardMixingPreprocessor | OutsideTrainingMixing:
        """Build as ESPnet builds ``dynamic_mixing``: ``source_scp`` = ``source_scp_name``
        (default ``spk1.scp``) beside the first training data file unless given, ``ref_num``
        from ``separator_conf.num_spk``, ``utt2spk`` from ``--utt2spk``; installs the epoch
        hook. Outside training (``train=False``): an :class:`OutsideTrainingMixing`, which
        reads none of these files."""
        conf = dict(getattr(args, "preprocessor_conf", None) or {})
        if not train:
            return OutsideTrainingMixing.from_conf("hard_dm", conf)
        name = conf.pop("source_scp_name", "spk1.scp")
        if "source_scp" not in conf:
            train_files = getattr(args, "train_data_path_and_name_and_type", None) or []
            if not train_files:
                raise ValueError("hard_dm preprocessor: no training data to find "
                                 f"{name} beside; set preprocessor_conf.source_scp")
            conf["source_scp"] = os.path.join(os.path.dirname(train_files[0][0]), name)
        conf.setdefault("ref_num", (getattr(args, "separator_conf", None) or {}).get("num_spk",
                                                                                    2))
        conf.setdefault("utt2spk", getattr(args, "utt2spk", None))
        install_epoch_hook()
        preprocessor = cls(train=train, **conf)
        preprocessor.set_rank(*rank_and_world_size(args))
        return preprocessor

    def set_rank(self, rank: int, world_size: int) -> None:
        """Mix the DDP rank into every draw's seed when ``world_size`` > 1 (module doc)."""
        self.rank_seed = rank_seed_words(rank, world_size)

    @property
    def draw_counts(self) -> Counter[str]:
        """Partner draws per branch (:data:`BRANCHES`) since construction, in every process
        that shares this object's memory (zero counts left out)."""
        with self._counts.get_lock():
            values = list(self._counts)
        return +Counter(dict(zip(BRANCHES, values, strict=True)))

    def _count(self, branch: str) -> None:
        with self._counts.get_lock():
            self._counts[BRANCHES.index(branch)] += 1

    def epoch_report(self) -> str | None:
        """The partner draws since the last call as one line (None when there were none):
        shares of all partner draws; ``no hard partner`` draws are among the uniform ones."""
        with self._counts.get_lock():
            now = list(self._counts)
        hard, uniform, no_partner = (a - b for a, b in zip(now, self._reported, strict=True))
        self._reported = now
        total = hard + uniform
        if total <= 0:
            return None
        rank, world = rank_and_world_size()  # DDP: this rank's draws only (rank 0 logs)
        who = f" (rank {rank} of {world})" if world > 1 else ""
        return (f"hard_dm partner draws{who}: hard {hard} ({100 * hard / total:.1f} %), "
                f"uniform {uniform} ({100 * uniform / total:.1f} %), no hard partner "
                f"{no_partner} ({100 * no_partner / total:.1f} %, in uniform)")

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch by the epoch hook; resets the visit counts."""
        if epoch != self.epoch:
            self.epoch, self._visits = int(epoch), Counter()

    def _generator(self, uid: str) -> np.random.Generator:
        visit = self._visits[uid]
        self._visits[uid] += 1
        epoch, visit = (visit + 1, 0) if self.epoch is None else (self.epoch, visit)
        digest = hashlib.blake2b(uid.encode("utf-8"), digest_size=8).digest()
        return np.random.default_rng([self.seed, epoch, visit, int.from_bytes(digest, "little"),
                                      *self.rank_seed])

    def _pick_source_utterances_(self, uid: str) -> list[str]:
        """``ref_num - 1`` partner source keys for the anchor ``uid`` (module doc)."""
        anchor = self.utt2spk.get(uid)
        if anchor is None:
            raise DataError(f"hard_dm preprocessor: utterance {uid} has no speaker in utt2spk")
        rng = self._generator(uid)
        drawn, keys = {anchor}, []
        for _ in range(self.ref_num - 1):
            key = None
            if self.hard_share > 0 and rng.random() < self.hard_share:
                partners = [s for s in self.hard_partners.get(anchor, ()) if s not in drawn]
                if partners:
                    utts = self.spk_utts[partners[rng.integers(len(partners))]]
                    key = utts[rng.integers(len(utts))]
                    self._count("hard")
                else:
                    self._count("no_hard_partner")
            if key is None:
                key = self._uniform_key(rng, drawn)
                self._count("uniform")
            drawn.add(self.utt2spk[key])
            keys.append(key)
        return keys

    def _uniform_key(self, rng: np.random.Generator, exclude: set[str]) -> str:
        """A source key uniformly among those whose speaker is not in ``exclude``: ESPnet's
        rejection sampling, but never giving up on the speaker constraint."""
        keys = self.source_keys
        for _ in range(_MAX_REJECTIONS):
            key = keys[rng.integers(len(keys))]
            if self.utt2spk[key] not in exclude:
                return key
        allowed = [k for k in keys if self.utt2spk[k] not in exclude]
        return allowed[rng.integers(len(allowed))]
