"""Every code of the provisioning engine and of the directory that a portal page shows has words in every page
language: no enum value reaches the screen."""

from __future__ import annotations

import pytest

from hospes.domain.principals import DIRECTORY_ROLES
from hospes.domain.provisioning import Action, CycleKind, Status, StopReason
from hospes.web import i18n
from hospes.web.portal.wording import Wording

CODES = {
    "outcome": [s.value for s in Status],
    "action": [a.value for a in Action],
    "cycle": [c.value for c in CycleKind],
    "stop_reason": [r.value for r in StopReason if r != StopReason.STOPPED],
    "execution": ["Succeeded", "EntryLevelErrors", "Failed"],
    "step": ["import", "scoping", "matching", "export"],
    "attempt": ["sent", "retry", "failed"],
    "invitation": ["PendingAcceptance", "Completed", "Error"],
    "identity": ["User", "Group", "Policy", "Role", "ServicePrincipal", "Application"],
    "role": list(DIRECTORY_ROLES),
    "role_description": list(DIRECTORY_ROLES),
}


# Words that are the same in English and in a language (the catalogs translate them to themselves).
SAME = {("fr", "Application"), ("de", "System"), ("fr", "Action")}


@pytest.mark.parametrize("language", i18n.SUPPORTED[1:])
def test_every_code_is_worded(language: str) -> None:
    words = Wording(i18n.translations(language).gettext, language)
    english = Wording(i18n.translations("en").gettext)
    for method, codes in CODES.items():
        for code in codes:
            in_english = getattr(english, method)(code)
            said = getattr(words, method)(code)
            assert said != code or (language, said) in SAME, (language, method, code)
            assert said != in_english or (language, said) in SAME, (language, method, code)


def test_english_words_for_codes() -> None:
    words = Wording(i18n.translations("en").gettext)
    assert words.execution("EntryLevelErrors") == "Completed with errors on some objects"
    assert words.action("stagedDelete") == "Delete held by the threshold" and words.cycle("incremental") == (
        "incremental cycle"
    )
    assert words.stop_reason("EncounteredEscrowProportionThreshold") == "too many objects failed"


def test_connector_errors_in_plain_words_keep_the_targets_text() -> None:
    fr = Wording(i18n.translations("fr").gettext, "fr")
    said = fr.connector_error("SystemForCrossDomainIdentityManagementUnauthorized", "401 invalid credentials")
    assert said.startswith("L’application a refusé le jeton secret.") and said.endswith("(401 invalid credentials)")
    assert fr.connector_error("SomethingNew", "") == "La requête vers l’application a échoué."
    assert fr.language("de-DE") == "allemand (Allemagne) (de-DE)"
    assert fr.outcome("aNewerStatus") == "aNewerStatus"  # a code from a newer engine is shown, not hidden
