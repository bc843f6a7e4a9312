"""sepplug: ESPnet enhancement components and recipes for sound source separation.

Components are declared as Python entry points (see ``setup.py``) and added to
ESPnet's choice tables by :func:`sepplug.registry.register_all`. To use a model
trained with sepplug components from ESPnet's Python API::

    import sepplug; sepplug.register()
    from espnet2.bin.enh_inference import SeparateSpeech
    separate = SeparateSpeech("exp/enh_x/config.yaml", "exp/enh_x/valid.loss.best.pth")
"""

__version__ = "0.1.0"


def register():
    """Add every installed plugin component to ESPnet's enh choice tables.

    Call it once in a Python session before ESPnet builds a model or parses a config
    that names sepplug components (``separator: mc_dprnn`` ...). Idempotent. Returns
    :class:`sepplug.registry.RegistryState`. ``import sepplug`` alone stays light: ESPnet
    is imported here, not at import time.
    """
    from sepplug.utils.offline import prepare_espnet_import

    prepare_espnet_import()  # before ESPnet's first import (see sepplug.utils.offline)
    from sepplug.registry import register_all

    return register_all()
