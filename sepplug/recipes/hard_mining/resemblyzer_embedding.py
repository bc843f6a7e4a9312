"""Pretrained speaker embedding from a PyPI wheel: Resemblyzer's GE2E d-vector.

    python -m sepplug.recipes.hard_mining.speaker_params --corpus_dir DIR --out_dir OUT
    --no_standardize \\
        --embed_fn sepplug.recipes.hard_mining.resemblyzer_embedding:resemblyzer_embedding

``resemblyzer`` 0.1.4 ships its trained weights (``resemblyzer/pretrained.pt``, a 3-layer
LSTM speaker encoder trained with the GE2E loss on LibriSpeech, VoxCeleb 1 and 2), so
nothing is downloaded at run time. It is an embedding function for
:mod:`sepplug.recipes.hard_mining.speaker_params` (``embed_fn(audio, fs) -> (D,)``): the utterance
is
resampled to 16 kHz, Resemblyzer's ``preprocess_wav`` normalises its level and trims long
silences (webrtcvad), and ``VoiceEncoder.embed_utterance`` averages the embeddings of
1.6 s partial windows into one L2-normalised (256,) vector. The vectors are comparable by
cosine as they are, so ``speaker_params`` runs with ``--no_standardize``.

Why a wheel and not an x-vector trained here: the embedded corpus has 300 voices, too few
to train a speaker embedding that generalises to unseen speakers, while Resemblyzer's
encoder has seen thousands of real speakers (the issue allows either).
"""

from __future__ import annotations

import functools
import logging

import numpy as np

logger = logging.getLogger(__name__)

#: the encoder's input rate (resemblyzer.hparams.sampling_rate)
ENCODER_FS = 16000


@functools.lru_cache(maxsize=1)
def _encoder():  # noqa: ANN202 - resemblyzer is imported lazily
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as exc:
        raise ImportError("the resemblyzer embedding needs `pip install --no-deps "
                          "resemblyzer==0.1.4 webrtcvad-wheels` (tools/install.sh)") from exc
    return VoiceEncoder("cpu", verbose=False)


def resemblyzer_embedding(audio: np.ndarray, fs: int) -> np.ndarray:
    """Resemblyzer d-vector of one utterance.

    Args:
        audio: (T,) mono waveform.
        fs: its sampling rate.

    Returns:
        (256,) unit-norm embedding (float64).
    """
    from resemblyzer import preprocess_wav
    from resemblyzer.audio import normalize_volume
    from resemblyzer.hparams import audio_norm_target_dBFS

    audio = np.asarray(audio, dtype=np.float32)
    wav = preprocess_wav(audio, source_sr=fs)
    if not wav.size:  # the VAD removed everything: the same steps without the trimming
        logger.warning("resemblyzer VAD kept no sample of a %.2f s utterance; embedding "
                       "it untrimmed", len(audio) / fs)
        if fs != ENCODER_FS:
            import librosa

            audio = librosa.resample(audio, orig_sr=fs, target_sr=ENCODER_FS)
        wav = normalize_volume(audio, audio_norm_target_dBFS, increase_only=True)
    return np.asarray(_encoder().embed_utterance(wav), dtype=np.float64)
