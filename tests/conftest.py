"""Test-session settings: ESPnet imports stay offline and quiet (see sepplug.utils.offline),
and typeguard's instrumentation of ESPnet is kept on disk (sepplug.utils.espnet_import).

Under pytest-xdist (``pytest -n 2``, as ``.ci/run`` may run it), the slowest tests are
handed out first, and the tests sharing one costly module-scoped fixture stay on one worker
(with ``--dist loadgroup``), so that no worker waits at the end for a long test and no
fixture is built twice. Without xdist the order changes nothing a test checks.
"""

from __future__ import annotations

import pytest

from sepplug.utils.offline import prepare_espnet_import

prepare_espnet_import()  # includes the typeguard cache

# About how long (s, one idle core) the slowest tests take, by node id prefix (a file, or
# a file::test). Only the order matters: a missing or stale entry costs time, not a result.
SLOW_TESTS = {
    "tests/test_recipe_resume.py": 95,
    "tests/test_continuation.py::test_a_continuation_matches_one_longer_run": 35,
    "tests/test_distributed.py": 55,
    "tests/test_inference_without_training_lists.py": 20,
    "tests/test_espnet_interop.py": 35,
    "tests/test_published_config.py": 35,
    "tests/test_registry.py::test_registration_is_idempotent_and_reaches_enh_s2t": 16,
    "tests/test_data_corpus.py::test_speaker_id_on_mean_mfccs_is_at_least_90_percent": 16,
    "tests/test_registry.py::test_collision_gives_clean_cli_error": 14,
    "tests/test_registry.py::test_plugin_preprocessor_is_built_by_the_sepplug_task": 13,
    "tests/test_registry.py::test_broken_plugin_is_reported_and_others_still_load": 11,
    "tests/test_registry.py::test_third_party_plugin_builds_through_stock_espnet_task": 10,
    "tests/test_cli_quiet.py": 10,
    "tests/test_checked_data.py::test_espnet_enh_import_skips_unused_text_modules": 8,
    "tests/test_speaker_params.py": 8,
    "tests/test_registry.py": 6,
    "tests/test_checked_data.py::test_launcher_prints_no_nltk_download_errors": 6,
    "tests/test_steering_fs.py::test_steering_cyclegan_trains_applies_and_checks": 6,
}
# Module-scoped fixtures that take seconds to build: their tests form one xdist group.
COSTLY_MODULE_FIXTURES = {"espnet_run", "split", "hard_dm_run", "ddp_recipe"}


def _expected_seconds(nodeid: str) -> float:
    matches = [(len(prefix), secs) for prefix, secs in SLOW_TESTS.items()
               if nodeid == prefix or nodeid.startswith(prefix + "::")]
    return max(matches)[1] if matches else 0.0


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: the file order
    group_seconds: dict[str, float] = {}
    for item in items:
        if COSTLY_MODULE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            group = item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(group))
            group_seconds[group] = max(group_seconds.get(group, 0.0),
                                       _expected_seconds(item.nodeid))

    def weight(item: pytest.Item) -> float:
        group = item.nodeid.split("::", 1)[0]
        if group in group_seconds and COSTLY_MODULE_FIXTURES.intersection(
                getattr(item, "fixturenames", ())):
            return group_seconds[group]  # a group's tests stay together, in file order
        return _expected_seconds(item.nodeid)

    items.sort(key=weight, reverse=True)  # stable: equal weights keep the file order
