"""Distributed (DDP) training from enh.sh, and sepplug's components under it (issue #33).

* enh.sh ``--dist_procs 2`` (torchrun, gloo, 2 CPU processes): a run killed after its first
  epoch resumes from it, and its checkpoint separates through ESPnet's ``SeparateSpeech``
  and is scored by stage 6; ``train.log`` is rank 0's, naming world size 2;
* the emulated 2-node path (``--num_nodes 2 --dist_emulate_nodes true``: ESPnet's
  external-launcher mode, file:// init) with lr 0 reports the same validation stats as one
  process on the same dev data, ``wpit``'s ``si_snr_loss_weighted_set`` included;
* ``wpit`` and ``mixit_efficient`` on 2 gloo processes, reduced as ESPnet's trainer and
  reporter reduce them, equal one process on the same batches (training stats, the loss
  ESPnet back-propagates, and the weighted dev-set statistic);
* the rank-seeded draws of ``spatial_dm``, ``hard_dm``, ``feabase``; the chunk check per
  rank; enh.sh's refusals of options and data that a distributed training cannot use.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sepplug.errors import DataError
from sepplug.train.dist_check import check as dist_check
from sepplug.train.distributed import RANK_TAG, rank_seed_words
from tests.enh_task import conv_tcn_config

REPO = Path(__file__).resolve().parents[1]
FS = 8000
SETS = {"train": 8, "dev": 4, "test": 2}
WPIT = ("criterions:\n  - name: si_snr\n    conf: {eps: 1.0e-7}\n    wrapper: wpit\n"
        "    wrapper_conf: {weight: 1.0}\n")
TRAIN_CONF = ("optim: adam\noptim_conf: {lr: 0.001}\nbatch_size: 2\nvalid_batch_size: 2\n"
              "num_workers: 0\nuse_tensorboard: false\nseed: 0\n"
              "best_model_criterion: [[valid, si_snr_loss_weighted_set, min]]\n")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning"}


def make_recipe(root: Path) -> Path:
    """A recipe dir (enh.sh, utils, path/cmd/db.sh) with toy 1-ch data: 2 sources of
    coloured noise per mixture, 0.5 s at 8 kHz, and the tiny ``wpit`` config."""
    recipe = root / "recipe"
    recipe.mkdir(parents=True)
    for name, target in (("enh.sh", "egs/TEMPLATE/enh1/enh.sh"), ("utils", "tools/utils"),
                         ("path.sh", "egs/TEMPLATE/path.sh")):
        (recipe / name).symlink_to(REPO / target)
    (recipe / "db.sh").write_text("VCTK=\n")
    # the template's job commands; a test may stand in for cuda_cmd ($TEST_CUDA_CMD)
    (recipe / "cmd.sh").write_text(f". {REPO / 'egs/TEMPLATE/cmd.sh'}\n"
                                   'cuda_cmd=${TEST_CUDA_CMD:-$cuda_cmd}\n')
    rng = np.random.default_rng(0)
    for name, count in SETS.items():
        d = recipe / "data" / name
        d.mkdir(parents=True)
        tables: dict[str, list[str]] = {"wav.scp": [], "spk1.scp": [], "spk2.scp": [],
                                        "utt2spk": []}
        for i in range(count):
            uid = f"{name}_{i:02d}"
            sources = np.cumsum(rng.standard_normal((2, FS // 2)), axis=1)
            sources = 0.05 * (sources - sources.mean(1, keepdims=True)) / sources.std()
            for key, audio in (("spk1", sources[0]), ("spk2", sources[1]),
                               ("mix", sources.sum(0))):
                path = d / "wav" / f"{uid}_{key}.wav"
                path.parent.mkdir(exist_ok=True)
                sf.write(path, audio, FS, subtype="FLOAT")
                tables["wav.scp" if key == "mix" else f"{key}.scp"].append(f"{uid} {path}")
            tables["utt2spk"].append(f"{uid} {uid}")
        for table, lines in tables.items():
            (d / table).write_text("\n".join(lines) + "\n")
        (d / "spk2utt").write_text("".join(f"{u} {u}\n" for u, _ in
                                           (line.split() for line in tables["utt2spk"])))
    (recipe / "tiny.yaml").write_text(conv_tcn_config(2, 8, 2, 8) + WPIT + TRAIN_CONF)
    return recipe


def enh_sh(*args: str) -> list[str]:
    """``./enh.sh`` on the toy recipe's data and config, then ``args``."""
    return ["./enh.sh", "--fs", "8k", "--enh_config", "tiny.yaml", "--ref_num", "2",
            "--test_sets", "test", *args]


def run(recipe: Path, command: list[str], check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=recipe, env=env or _env(), capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def valid_stats(exp: Path, epoch: int = 1) -> dict[str, float]:
    """The ``[valid]`` stats ESPnet logged for ``epoch`` in ``exp/train.log``."""
    for line in (exp / "train.log").read_text().splitlines():
        if f"{epoch}epoch results: " in line and "[valid] " in line:
            valid = line.split("[valid] ", 1)[1].split(", [", 1)[0]
            return {k: float(v) for k, v in re.findall(r"(\w+)=([-0-9.e+]+)", valid)}
    raise AssertionError(f"no epoch {epoch} validation in {exp / 'train.log'}")


def workers_of(exp: Path) -> list[int]:
    """Processes whose command line names ``exp`` (a training's output dir)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if f"--output_dir {exp.relative_to(exp.parents[1])} ".encode() in \
                    (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def ddp_recipe(tmp_path_factory) -> Path:
    return make_recipe(tmp_path_factory.mktemp("ddp"))


# ---- enh.sh end to end ----------------------------------------------------------------

def test_two_process_training_resumes_after_a_kill_and_separates(ddp_recipe):
    """torchrun, 2 processes: killed after epoch 1 is saved, rerun with the same command:
    resumes at epoch 2; train.log is rank 0's (world size 2); stage 6 separates with the
    checkpoint (ESPnet's SeparateSpeech under sepplug.bin.enh_inference) and scores it."""
    command = enh_sh("--stage", "5", "--stop_stage", "6", "--enh_tag", "ddp",
                     "--dist_procs", "2", "--enh_args", "--max_epoch 2")
    exp = ddp_recipe / "exp" / "enh_ddp"
    with open(ddp_recipe / "killed.log", "w") as out:
        proc = subprocess.Popen(command, cwd=ddp_recipe, env=_env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        while not (exp / "1epoch.pth").is_file() and proc.poll() is None:
            assert time.monotonic() < deadline, "epoch 1 not saved in 240 s"
            time.sleep(0.05)
        assert len(workers_of(exp)) >= 2, "the check below would see no worker at all"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (exp / ".done.train").exists() and not (exp / "2epoch.pth").exists()
    # torchrun's workers (sessions of their own) die with it: nothing trains on
    deadline = time.monotonic() + 20
    while workers_of(exp):
        assert time.monotonic() < deadline, f"workers left training: {workers_of(exp)}"
        time.sleep(0.1)
    run(ddp_recipe, command)
    log = (exp / "train.log").read_text()
    assert "resuming from" in log and "2/2epoch started" in log
    assert "1/2epoch started" not in log  # resumed, not restarted
    assert re.search(r"\[[^\]\s]*:0/2\] ", log), "train.log does not name rank 0 of 2"
    assert "torch.distributed.run" in log.splitlines()[0] and "ddp_worker" in log.splitlines()[0]
    assert (exp / ".done.train").is_file() and (exp / "2epoch.pth").is_file()
    assert (exp / "enhanced_test" / ".done.score").is_file()
    # the checkpoint loads in ESPnet's own API, as a model trained in one process does
    from espnet2.bin.enh_inference import SeparateSpeech

    import sepplug

    sepplug.register()
    separate = SeparateSpeech(str(exp / "config.yaml"), str(exp / "2epoch.pth"))
    mix, _ = sf.read(ddp_recipe / "data" / "test" / "wav" / "test_00_mix.wav", dtype="float32")
    outputs = separate(mix[None], fs=FS)
    assert len(outputs) == 2 and all(np.isfinite(o).all() for o in outputs)


def test_emulated_two_nodes_validate_as_one_process(ddp_recipe):
    """lr 0 (the model stays the seed's): 2 processes as 2 emulated nodes report the
    validation stats of 1 process on the same dev data, wpit's dev-set statistic too."""
    common = ("--stage", "5", "--stop_stage", "5", "--enh_args",
              "--max_epoch 1 --optim_conf lr=0.0 --num_att_plot 0")
    run(ddp_recipe, enh_sh(*common[:4], "--enh_tag", "one", *common[4:]))
    run(ddp_recipe, enh_sh(*common[:4], "--enh_tag", "two", "--num_nodes", "2",
                           "--dist_emulate_nodes", "true", *common[4:]))
    one = valid_stats(ddp_recipe / "exp" / "enh_one")
    two = valid_stats(ddp_recipe / "exp" / "enh_two")
    for key in ("si_snr_loss", "si_snr_loss_weighted", "si_snr_loss_weighted_set", "loss"):
        assert two[key] == pytest.approx(one[key], abs=2e-3), (key, one, two)
    assert one["si_snr_loss_weighted_set"] != pytest.approx(one["si_snr_loss"], abs=1e-3)
    logs = sorted((ddp_recipe / "exp" / "enh_two" / "logdir").glob("train.*.log"))
    assert [p.name for p in logs] == ["train.0.log", "train.1.log"]
    assert not list((ddp_recipe / "exp" / "enh_two").glob(".dist_init_*"))


@pytest.mark.parametrize("args, message", [
    (("--ngpu", "1", "--dist_procs", "2"), "--dist_procs is CPU processes per node"),
    (("--num_nodes", "2"), "runs jobs on this host only"),
    (("--num_nodes", "x"), "--num_nodes must be an integer >= 1"),
    (("--dist_procs", "0"), "--dist_procs must be an integer >= 1"),
    (("--dist_emulate_nodes", "true"), "needs --num_nodes > 1"),
    (("--num_nodes", "2", "--dist_emulate_nodes", "true", "--ngpu", "1"), "CPU nodes only"),
])
def test_enh_sh_refuses_options_a_distributed_training_cannot_use(ddp_recipe, args, message):
    proc = run(ddp_recipe, enh_sh("--stage", "5", *args), check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]


def test_enh_sh_multi_node_needs_one_cpu_process_per_node_on_a_cluster(ddp_recipe):
    env = {**_env(), "cmd_backend": "slurm"}  # cmd.sh: cuda_cmd = utils/slurm.pl --gpu 1
    proc = run(ddp_recipe, enh_sh("--stage", "5", "--num_nodes", "2", "--dist_procs", "2"),
               check=False, env=env)
    assert proc.returncode != 0 and "one CPU process per node" in proc.stderr


def test_enh_sh_refuses_more_processes_than_examples_before_training(ddp_recipe):
    proc = run(ddp_recipe, enh_sh("--stage", "5", "--enh_tag", "many", "--dist_procs", "5",
                                  "--enh_args", "--batch_size 8 --valid_batch_size 8"),
               check=False)  # dev has 4 examples
    assert proc.returncode != 0
    assert "5 training processes but the validation data" in proc.stderr
    assert "has 4 examples" in proc.stderr
    assert not (ddp_recipe / "exp" / "enh_many" / "train.log").exists()  # nothing launched


def test_dist_check_names_the_batch_size_that_cannot_be_split(tmp_path):
    for name, count in (("train", 6), ("dev", 3)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "wav.scp").write_text("".join(f"u{i} x\n" for i in range(count)))
    config = tmp_path / "c.yaml"
    config.write_text("batch_size: 4\n")
    dist_check(3, config, tmp_path / "train", tmp_path / "dev")
    with pytest.raises(DataError, match="batch_size 2 .*set batch_size >= 3"):
        dist_check(3, config, tmp_path / "train", tmp_path / "dev", ["--batch_size", "2"])
    with pytest.raises(DataError, match="valid_batch_size 1"):
        dist_check(2, config, tmp_path / "train", tmp_path / "dev", ["--valid_batch_size=1"])
    config.write_text("batch_type: numel\nbatch_bins: 100\nbatch_size: 1\n")
    dist_check(3, config, tmp_path / "train", tmp_path / "dev")  # batch_bins sets batches
    with pytest.raises(DataError, match="training data .* has 6 examples"):
        dist_check(7, config, tmp_path / "train", tmp_path / "dev")


# ---- wpit and mixit_efficient on 2 gloo processes ------------------------------------

def _reduced_stats(wrapper, refs, ests, rank: int, world: int, validating: bool):
    """One step of ESPnet's trainer for one rank's share of a batch: the wrapper inside
    the trainer's collective epoch, its stats reduced with ESPnet's recursive_average; the
    loss as the trainer scales it before DDP averages the gradients."""
    from espnet2.torch_utils.recursive_op import recursive_average

    from sepplug.train.distributed import collective_steps

    share = slice(rank, None, world)
    mine_ref = [r[share] for r in refs]
    mine_est = [e[share].clone().requires_grad_(not validating) for e in ests]
    with collective_steps():
        loss, stats, _ = wrapper(mine_ref, mine_est, {})
    weight = torch.tensor([mine_ref[0].shape[0]])
    stats = {k: v.detach().reshape(1) for k, v in stats.items()}  # force_gatherable
    scaled = loss.detach() * weight[0]
    stats, weight = recursive_average(stats, weight, world > 1)
    if world > 1:
        torch.distributed.all_reduce(scaled)
    return {k: float(v) for k, v in stats.items()}, float(scaled / weight), int(weight)


def _compare_worker(rank: int, world: int, init: str, out: str) -> None:
    """Run every wrapper over the same batches; rank 0 saves what the reporter gets."""
    from espnet2.enh.loss.criterions.time_domain import SISNRLoss, SNRLoss
    from espnet2.train.reporter import Reporter

    from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver
    from sepplug.enh.loss.wrappers.weighted_pit import WeightedPITSolver

    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=init, rank=rank,
                                             world_size=world)
    gen = torch.Generator().manual_seed(0)
    batches = []
    for size in (4, 6, 3, 4):  # uneven shares: 3 = 2 + 1
        refs = torch.randn(size, 2, 320, generator=gen)
        noise = torch.rand(size, 1, 1, generator=gen) * torch.randn(refs.shape, generator=gen)
        batches.append((list(refs.unbind(1)), list((refs.flip(1) + noise).unbind(1))))
    results = {}
    wrappers = {"wpit": WeightedPITSolver(SISNRLoss()),
                "mixit": EfficientMixITSolver(SNRLoss(), refine_sweeps=4)}
    for name, wrapper in wrappers.items():
        for phase in ("train", "valid"):
            reporter = Reporter()
            reporter.set_epoch(1)
            losses = []
            with reporter.observe(phase) as sub:
                for refs, ests in batches:
                    if name == "mixit":  # the 2 references as mixtures, 4 outputs
                        ests = [0.6 * ests[0], 0.4 * ests[0] + 0.2 * ests[1], 0.8 * ests[1],
                                0.1 * ests[0]]
                    stats, loss, weight = _reduced_stats(wrapper, refs, ests, rank, world,
                                                         phase == "valid")
                    sub.register({k: torch.tensor(v) for k, v in stats.items()},
                                 torch.tensor(weight))
                    losses.append(loss)
                    sub.next()
            results[(name, phase)] = ({k: reporter.get_value(phase, k)
                                       for k in reporter.get_keys2(phase)
                                       if k != "time"}, losses)
    if rank == 0:
        torch.save(results, out)
    if world > 1:
        torch.distributed.destroy_process_group()


def test_wpit_and_mixit_on_two_processes_equal_one_process(tmp_path):
    import torch.multiprocessing as mp

    _compare_worker(0, 1, "", str(tmp_path / "one.pt"))
    mp.spawn(_compare_worker, args=(2, f"file://{tmp_path / 'init'}", str(tmp_path / "two.pt")),
             nprocs=2, join=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys()
    for key in one:
        (stats1, losses1), (stats2, losses2) = one[key], two[key]
        assert stats1.keys() == stats2.keys(), key
        for stat in stats1:
            assert stats2[stat] == pytest.approx(stats1[stat], rel=1e-5, abs=1e-5), (key, stat)
        assert losses2 == pytest.approx(losses1, rel=1e-5, abs=1e-5), key
    wpit_valid = one[("wpit", "valid")][0]
    assert wpit_valid["si_snr_loss_weighted_set"] != pytest.approx(wpit_valid["si_snr_loss"])


# ---- rank-seeded draws -------------------------------------------------------------

def test_rank_seed_words():
    assert rank_seed_words(0, 1) == ()
    assert rank_seed_words(1, 2) == (RANK_TAG, 1)
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        rank_seed_words(2, 2)


def test_spatial_dm_draws_differ_by_rank_and_stay_as_before_alone(tmp_path):
    from sepplug.enh.preprocessor.spatial_dm import SpatialDMPreprocessor

    pre = SpatialDMPreprocessor.__new__(SpatialDMPreprocessor)  # only the seeding
    pre.seed, pre.rank_seed = 5, ()
    before = pre._generator("u1", 2, 0).random(4)
    pre.set_rank(0, 1)
    assert np.array_equal(pre._generator("u1", 2, 0).random(4), before)
    draws = []
    for rank in (0, 1):
        pre.set_rank(rank, 2)
        draws.append(pre._generator("u1", 2, 0).random(4))
        assert np.array_equal(pre._generator("u1", 2, 0).random(4), draws[-1])  # reproducible
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], before)


def test_hard_dm_and_feabase_draws_differ_by_rank(tmp_path):
    from sepplug.enh.preprocessor.feabase import FeabasePreprocessor
    from sepplug.enh.preprocessor.hard_mixing import HardMixingPreprocessor

    hard = HardMixingPreprocessor.__new__(HardMixingPreprocessor)
    hard.seed, hard.rank_seed, hard.epoch = 0, (), 3
    from collections import Counter

    def hard_draw(rank: int, world: int) -> np.ndarray:
        hard._visits = Counter()
        hard.set_rank(rank, world)
        return hard._generator("u1").random(4)

    alone = np.random.default_rng([0, 3, 0, int.from_bytes(
        __import__("hashlib").blake2b(b"u1", digest_size=8).digest(), "little")]).random(4)
    assert np.array_equal(hard_draw(0, 1), alone)  # world size 1: as before
    assert not np.array_equal(hard_draw(0, 2), hard_draw(1, 2))
    assert np.array_equal(hard_draw(1, 2), hard_draw(1, 2))

    fea = FeabasePreprocessor.__new__(FeabasePreprocessor)
    fea.seed = 7

    def fea_draws(rank: int, world: int) -> np.ndarray:
        fea.set_rank(rank, world)
        return fea.rng.random(8)

    assert np.array_equal(fea_draws(0, 1), np.random.default_rng(7).random(8))
    assert not np.array_equal(fea_draws(0, 2), fea_draws(1, 2))
    assert np.array_equal(fea_draws(1, 2), fea_draws(1, 2))


def test_rank_is_read_from_espnet_args_without_torch_distributed():
    from argparse import Namespace

    from sepplug.train.distributed import rank_and_world_size

    assert rank_and_world_size(Namespace()) == (0, 1)
    args = Namespace(distributed=True, dist_rank=1, dist_world_size=3)
    assert rank_and_world_size(args) == (1, 3)


# ---- the chunk check per rank ---------------------------------------------------------

def test_chunk_check_counts_each_ranks_share_and_batch(tmp_path):
    from argparse import Namespace
    from types import SimpleNamespace

    from sepplug.tasks.chunk_check import check_chunk_supply, rank_batch_size

    assert [rank_batch_size(5, r, 2) for r in (0, 1)] == [3, 2]
    shape = tmp_path / "shape"
    # 1 chunk each from the two long mixtures; the short ones give none
    shape.write_text("a 9000\nb 9000\nc 100\nd 100\n")
    args = Namespace(chunk_length=8000, chunk_shift_ratio=0.5, chunk_max_abs_length=None,
                     chunk_default_fs=None, chunk_discard_short_samples=True,
                     preprocessor_conf=None)
    options = SimpleNamespace(shape_files=[str(shape)], batch_size=2, num_batches=None,
                              num_iters_per_epoch=None)
    assert check_chunk_supply(args, options).chunks == 2  # one process: one batch of 2
    # 2 ranks: rank 0 gets a, c (1 chunk), rank 1 b, d (1 chunk); batches of 1: fine
    check_chunk_supply(args, options, world_size=2)
    shape.write_text("a 9000\nb 100\nc 9000\nd 100\n")  # rank 1 gets b, d: no chunk
    assert check_chunk_supply(args, options).chunks == 2
    with pytest.raises(DataError, match="rank 1 of 2 training processes"):
        check_chunk_supply(args, options, world_size=2)
    with pytest.raises(DataError, match="3 training processes .* batch_size 2"):
        check_chunk_supply(args, options, world_size=3)


def test_enh_sh_single_process_command_is_unchanged(ddp_recipe, tmp_path):
    """At the defaults the training command (what run.pl runs and writes on train.log's
    first line) is the one enh.sh ran before distributed training: the job runner only
    gets --gpu 0 in front (run.pl ignores it; slurm.pl then asks for no GPU)."""
    stub = tmp_path / "cmd.pl"  # records its arguments, fails the training
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" >{tmp_path / "argv"}\nexit 1\n')
    stub.chmod(0o755)
    proc = run(ddp_recipe, enh_sh("--stage", "5", "--stop_stage", "5", "--enh_tag", "argv"),
               check=False, env={**_env(), "TEST_CUDA_CMD": str(stub)})
    assert proc.returncode != 0 and "stage 5 failed" in proc.stderr
    stats = "exp/enh_stats_8k_train"
    data = [arg for mode, d in (("train", "train"), ("valid", "dev"))
            for name, key in (("wav", "speech_mix"), ("spk1", "speech_ref1"),
                              ("spk2", "speech_ref2"))
            for arg in (f"--{mode}_data_path_and_name_and_type",
                        f"data/{d}/{name}.scp,{key},sound")]
    assert (tmp_path / "argv").read_text().splitlines() == [
        "--gpu", "0", "exp/enh_argv/train.log", "python3", "-m", "sepplug.bin.enh_train",
        "--config", "tiny.yaml", *data,
        "--train_shape_file", f"{stats}/train/speech_mix_shape",
        "--valid_shape_file", f"{stats}/valid/speech_mix_shape", "--fold_length", "80000",
        "--output_dir", "exp/enh_argv", "--ngpu", "0", "--resume", "true"]


def test_feabase_workers_and_epochs_draw_their_own_swap_decisions(monkeypatch):
    """DataLoader workers get a copy of the main process's generator each epoch: without a
    generator of their own, every worker of every epoch would repeat the same decisions."""
    import torch.utils.data

    from sepplug.enh.preprocessor.feabase import FeabasePreprocessor

    fea = FeabasePreprocessor.__new__(FeabasePreprocessor)
    fea.seed, fea.epoch, fea._worker_key = 7, None, None
    fea.set_rank(0, 1)
    assert np.array_equal(fea._decisions().random(4), np.random.default_rng(7).random(4))

    def worker_draws(epoch: int, worker: int) -> np.ndarray:
        copy = FeabasePreprocessor.__new__(FeabasePreprocessor)  # what a fork gets
        copy.__dict__.update(fea.__dict__)
        copy.set_epoch(epoch)
        info = type("WorkerInfo", (), {"id": worker})()
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: info)
        draws = copy._decisions().random(6)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: None)
        return draws

    draws = {(e, w): worker_draws(e, w) for e in (1, 2) for w in (0, 1)}
    assert len({d.tobytes() for d in draws.values()}) == 4  # no worker or epoch repeats
    assert np.array_equal(worker_draws(2, 1), draws[(2, 1)])  # reproducible
