"""Which real connectors run with all their declared behaviour honoured (benchmarks/corpus_fidelity.py): the
curated set always, the whole corpus when CONNECTORS_CORPUS names it (run with -s to see its table)."""

from __future__ import annotations

import pytest

from benchmarks.corpus_fidelity import Assessment, assess_all, table
from tests.support.connector_files import CURATED_CONNECTORS, corpus_root, whole_corpus


def _by_name(assessments: list[Assessment]) -> dict[str, Assessment]:
    return {a.name: a for a in assessments}


def _names_what_is_not_honoured(assessments: list[Assessment]) -> None:
    for a in assessments:
        for template_id in a.unsupported_templates:
            assert any(f"'{template_id}'" in reason.lower() for reason in a.reasons), (a.name, template_id)
        if a.custom_code and not a.faithful:
            assert a.reasons


@pytest.fixture(scope="module")
def curated() -> dict[str, Assessment]:
    return _by_name(assess_all(CURATED_CONNECTORS))


def test_curated_connectors_run_faithfully_or_name_what_they_miss(curated: dict[str, Assessment]) -> None:
    _names_what_is_not_honoured(list(curated.values()))
    for name in (
        "independent-publisher-connectors/Pushover",  # convertobjecttoarray
        "certified-connectors/iObeya",  # setproperty, dynamichosturl
        "custom-connectors/Infobip",  # setqueryparameter, webhook trigger
        "certified-connectors/Cireson Service Manager Portal",  # dynamichosturl, setheader
        "certified-connectors/BoomappConnect",  # polling trigger
        "certified-connectors/Almabase",  # updatenextlink, routerequesttoendpoint, setproperty, convertobjecttoarray
        "certified-connectors/Feathery Forms",  # pollingtrigger
        "certified-connectors/App Power Forms",  # pollingtrigger
    ):
        assert curated[name].faithful, (name, curated[name].reasons)
    # stringreplace, and setproperty with `{@item()['id']}` references to each invoice.
    assert curated["independent-publisher-connectors/FreeAgent"].faithful
    assert any(r.startswith("custom code") for r in curated["independent-publisher-connectors/Nationalize.io"].reasons)


@whole_corpus
def test_whole_corpus_share_by_template_and_auth_kind() -> None:
    root = corpus_root()
    assert root is not None
    assessments = assess_all(root)
    print("\n" + table(assessments))
    assert len(assessments) == 232
    _names_what_is_not_honoured(assessments)
    assert sum(a.faithful for a in assessments) >= 207  # as measured when setproperty/convertobjecttoarray came
