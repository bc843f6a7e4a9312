"""sepplug: ESPnet enhancement components and recipes for sound source separation.

Components are declared as Python entry points (see ``setup.py``) and added to
ESPnet's choice tables by :func:`sepplug.registry.register_all`.
"""

__version__ = "0.1.0"
