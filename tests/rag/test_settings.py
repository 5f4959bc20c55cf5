"""Settings from the environment: the forms an operator writes, one clear line per bad value, typos named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag.errors import InvalidSettings
from rag.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No POLICYQA_* variable from the developer's shell, and no .env (run from an empty folder)."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("POLICYQA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("secret", ["secret"]),
        ("k1,k2", ["k1", "k2"]),
        (" k1 , k2 ,", ["k1", "k2"]),
        ('["k1", "k2"]', ["k1", "k2"]),
        ("", []),
    ],
)
def test_api_keys_accept_one_key_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch, value: str, keys: list[str]) -> None:
    monkeypatch.setenv("POLICYQA_API_KEYS", value)
    assert load_settings().api_keys == keys


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("POLICYQA_TOP_K", "abc", "POLICYQA_TOP_K='abc': expected a whole number, e.g. 6"),
        ("POLICYQA_MAX_UPLOAD_MB", "lots", "POLICYQA_MAX_UPLOAD_MB='lots': expected a number, e.g. 20 or 2.5"),
        ("POLICYQA_RATE_LIMIT_PER_MINUTE", "-5", "POLICYQA_RATE_LIMIT_PER_MINUTE='-5': expected a number >= 0"),
        ("POLICYQA_CHUNK_MIN", "900", "invalid settings: POLICYQA_CHUNK_MIN (900) must be < POLICYQA_CHUNK_SIZE (480)"),
        # a key is never echoed back
        ("POLICYQA_API_KEYS", '["k1", ', "POLICYQA_API_KEYS=(hidden): expected one key, a comma-separated list or a JSON list of strings (not a valid JSON list)"),
    ],
)
def test_a_bad_value_is_one_line_naming_variable_value_and_form(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettings) as caught:
        load_settings()
    assert caught.value.message == line


def test_the_same_checks_apply_to_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("POLICYQA_TOP_K=six\n", encoding="utf-8")
    with pytest.raises(InvalidSettings, match=r"^POLICYQA_TOP_K='six': expected a whole number"):
        load_settings()


def test_unknown_variables_are_warned_about_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("POLICYQA_TOPK", "3")
    monkeypatch.setenv("POLICYQA_TOP_K", "4")
    monkeypatch.setenv("POLICYQA_TEST_URL", "http://127.0.0.1:9")  # the test suite's own, not a setting
    (tmp_path / ".env").write_text("POLICYQA_RATE_LIMT_PER_MINUTE=0\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag.settings"):
        settings = load_settings()
    assert settings.top_k == 4
    assert [r.getMessage() for r in caplog.records] == [
        "unknown setting POLICYQA_RATE_LIMT_PER_MINUTE is ignored (did you mean POLICYQA_RATE_LIMIT_PER_MINUTE?)",
        "unknown setting POLICYQA_TOPK is ignored (did you mean POLICYQA_TOP_K?)",
    ]
