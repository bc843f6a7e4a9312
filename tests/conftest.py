"""Test-session settings: ESPnet imports stay offline and quiet (see sepplug.utils.offline),
and typeguard's instrumentation of ESPnet is kept on disk (sepplug.utils.espnet_import)."""

from sepplug.utils.espnet_import import cache_typeguard_instrumentation
from sepplug.utils.offline import prepare_espnet_import

prepare_espnet_import()
cache_typeguard_instrumentation()
