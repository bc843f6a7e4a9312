"""Test-session settings: ESPnet imports stay offline and quiet (see sepplug.utils.offline)."""

from sepplug.utils.offline import prepare_espnet_import

prepare_espnet_import()
