"""A config in the form ESPnet publishes runs through the SpatialVCTK recipe unchanged.

``conf/tuning/espnet/train_enh_rnn_tf_espnet_style.yaml`` has the keys of ESPnet's
``egs2/wsj0_2mix/enh1/conf/tuning`` configs, stock components only, and their first
``best_model_criterion``, ``[valid, si_snr, max]``, which ESPnet 202511 never writes (its
validation reports ``si_snr_loss``). A tiny run of stages 1-6 (sizes on the command line
only) trains, and stage 6 takes ``valid.loss.best.pth``, says why, and scores.
About 40 s: four ESPnet process starts (stats, training, inference, scoring).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "spatialvctk"
CONFIG = "conf/tuning/espnet/train_enh_rnn_tf_espnet_style.yaml"


def test_published_style_config_runs_and_takes_the_written_checkpoint(tmp_path):
    # Sizes only: batch_type folded's --fold_length comes from enh.sh, as from ESPnet's.
    enh_args = "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --valid_batch_size 2"
    sizes = (
        "--segment 2.0 --n_train 8 --n_dev 2 --n_test 2 --n_hard_extra 2 "
        f"--wav_dir {tmp_path / 'wav'}"
    )
    command = [
        "./run.sh", "--stage", "1", "--stop-stage", "6", "--input_channels", "ref",
        "--enh_config", CONFIG, "--enh_tag", "published", "--enh_args", enh_args,
        "--nj", "1", "--test_sets", "test_both",
        "--datadir", str(tmp_path / "data"), "--dumpdir", str(tmp_path / "dump"),
        "--expdir", str(tmp_path / "exp"), "--corpus_dir", str(tmp_path / "corpus"),
        "--corpus_opts", "--num_speakers 12 --utts_per_speaker 4",
        "--local_data_opts", sizes,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        command, cwd=RECIPE, capture_output=True, text=True, timeout=900, env=env
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    exp = tmp_path / "exp" / "enh_published"
    trained = yaml.safe_load((exp / "config.yaml").read_text())
    assert trained["best_model_criterion"][0] == ["valid", "si_snr", "max"]
    assert trained["batch_type"] == "folded"
    assert not (exp / "valid.si_snr.best.pth").exists()
    assert (exp / "valid.loss.best.pth").exists()
    assert (
        "inference model: valid.loss.best.pth (valid.si_snr.best.pth was never written: "
        "ESPnet reported no valid/si_snr)"
    ) in log
    assert f"stage 6: separate test_both with {exp / 'valid.loss.best.pth'}" in log
    assert (exp / "enhanced_test_both" / ".done.score").exists()
    results = (tmp_path / "exp" / "RESULTS.md").read_text()
    assert "|published|test_both|2|" in results
