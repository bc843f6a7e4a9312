"""Install sepplug and declare its ESPnet components as entry points.

Each entry-point group mirrors one choice table of ``espnet2.tasks.enh``
(see ``sepplug/registry.py``). A third-party package adds a component by
declaring an entry point in the same group; no change to sepplug is needed.
"""

from setuptools import find_packages, setup

ENTRY_POINTS = {
    "console_scripts": ["sepplug = sepplug.cli:main"],
    "espnet2.enh.separator": [
        "mc_dprnn = sepplug.enh.separator.mc_dprnn:MCDPRNNSeparator",
        "dc_blstm = sepplug.enh.separator.dc_separator:DCBLSTMSeparator",
        "tf_dualpath = sepplug.enh.separator.tf_dualpath:TFDualPathSeparator",
        "rnn_softmax = sepplug.enh.separator.rnn_softmax:SoftmaxRNNSeparator",
        "spectral_spatial = sepplug.enh.separator.spectral_spatial:SpectralSpatialSeparator",
    ],
    "espnet2.enh.encoder": [],
    "espnet2.enh.decoder": [],
    "espnet2.enh.mask_module": [],
    "espnet2.enh.loss_wrapper": [
        "wpit = sepplug.enh.loss.wrappers.weighted_pit:WeightedPITSolver",
        "mixit_efficient = sepplug.enh.loss.wrappers.efficient_mixit:EfficientMixITSolver",
        "pit_hungarian = sepplug.enh.loss.wrappers.hungarian_pit:HungarianPITSolver",
        "output_regularizer = "
        "sepplug.enh.loss.wrappers.output_regularizer:OutputRegularizer",
        "mixit_semantic = sepplug.enh.loss.wrappers.semantic_mixit:SemanticMixITLoss",
    ],
    "espnet2.enh.criterion": [
        "thresholded_snr = sepplug.enh.loss.criterions.thresholded_snr:ThresholdedSNRLoss",
        "mixit_sparsity = sepplug.enh.loss.criterions.mixit_sparsity:MixITSparsityLoss",
        "source_covariance = "
        "sepplug.enh.loss.criterions.source_covariance:SourceCovarianceLoss",
        "semantic_classification = "
        "sepplug.enh.loss.criterions.semantic_classification:SemanticClassificationLoss",
    ],
    "espnet2.enh.preprocessor": [
        "feabase = sepplug.enh.preprocessor.feabase:FeabasePreprocessor",
        "spatial_dm = sepplug.enh.preprocessor.spatial_dm:SpatialDMPreprocessor",
        "hard_dm = sepplug.enh.preprocessor.hard_mixing:HardMixingPreprocessor",
    ],
}

setup(
    name="sepplug",
    version="0.1.0",
    description="Plugin components and Kaldi-style recipes for source separation in ESPnet",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["sepplug", "sepplug.*"]),
    # Run-time needs are installed by tools/install.sh (espnet must go in with
    # --no-deps: its setuptools<74 pin conflicts with torch 2.13).
    install_requires=[],
    entry_points=ENTRY_POINTS,
)
