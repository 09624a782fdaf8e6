"""The signed-url upload policy is configuration: seed 001 defaults; bad values stop start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from filedock.config import SettingsError, load_settings
from filedock.core.upload_policy import SIGNED_URL_POLICY
from filedock.runtime import upload_policies

POLICY_VARIABLES = (
    "FILEDOCK_SIGNED_URL_TYPES",
    "FILEDOCK_SIGNED_URL_MAX_BYTES",
    "FILEDOCK_SIGNED_URL_KEY_PREFIX",
    "FILEDOCK_SIGNED_URL_EXPIRY_SECONDS",
    "FILEDOCK_TEMPORARY_FILE_HOURS",
    "FILEDOCK_CATALOGUE_DATASETS_PREFIX",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in POLICY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_the_default_policy_is_the_seeds(tmp_path: Path) -> None:
    assert upload_policies(load_settings(data_dir=tmp_path))["signed-url"] == SIGNED_URL_POLICY


def test_every_part_of_the_policy_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEDOCK_SIGNED_URL_TYPES", " text/csv , Image/PNG ")
    monkeypatch.setenv("FILEDOCK_SIGNED_URL_MAX_BYTES", "1000")
    monkeypatch.setenv("FILEDOCK_SIGNED_URL_KEY_PREFIX", "incoming/phones/")
    monkeypatch.setenv("FILEDOCK_SIGNED_URL_EXPIRY_SECONDS", "60")
    monkeypatch.setenv("FILEDOCK_TEMPORARY_FILE_HOURS", "1.5")
    policy = upload_policies(load_settings(data_dir=tmp_path))["signed-url"]
    assert policy.allowed_types == ("text/csv", "image/png")
    assert (policy.max_bytes, policy.key_prefix) == (1000, "incoming/phones/")
    assert policy.url_expiry == timedelta(seconds=60)
    assert policy.temporary_lifetime == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FILEDOCK_SIGNED_URL_TYPES", " , "),
        ("FILEDOCK_SIGNED_URL_TYPES", "text/csv,not a type"),
        ("FILEDOCK_SIGNED_URL_MAX_BYTES", "0"),
        ("FILEDOCK_SIGNED_URL_KEY_PREFIX", "uploads"),
        ("FILEDOCK_SIGNED_URL_KEY_PREFIX", "files/landing/"),
        ("FILEDOCK_SIGNED_URL_KEY_PREFIX", "../up/"),
        ("FILEDOCK_SIGNED_URL_EXPIRY_SECONDS", "0"),
        ("FILEDOCK_SIGNED_URL_EXPIRY_SECONDS", "999999999"),
        ("FILEDOCK_TEMPORARY_FILE_HOURS", "-1"),
    ],
)
def test_a_bad_policy_value_stops_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings(data_dir=tmp_path)


def test_the_catalogue_datasets_prefix_defaults_to_datasets_and_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(data_dir=tmp_path).catalogue_datasets_prefix == "datasets/"
    monkeypatch.setenv("FILEDOCK_CATALOGUE_DATASETS_PREFIX", "shared/data/")
    assert load_settings(data_dir=tmp_path).catalogue_datasets_prefix == "shared/data/"


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "files/"}, "overlap.*'files/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "files/datasets/"}, "overlap.*'files/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "uploads/"}, "overlap.*'uploads/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "direct_uploads/"}, "overlap"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "ui_uploads/x/"}, "overlap.*'ui_uploads/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "schedules/data/"}, "overlap.*'schedules/'"),
        (
            {
                "FILEDOCK_SIGNED_URL_KEY_PREFIX": "incoming/",
                "FILEDOCK_CATALOGUE_DATASETS_PREFIX": "incoming/datasets/",
            },
            "overlap.*'incoming/'",
        ),
        ({"FILEDOCK_SIGNED_URL_KEY_PREFIX": "datasets/phones/"}, "overlap.*'datasets/phones/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": ""}, "must end with '/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "/"}, "must end with '/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "datasets"}, "must end with '/'"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "../datasets/"}, "segment"),
        ({"FILEDOCK_CATALOGUE_DATASETS_PREFIX": "data//sets/"}, "segment"),
    ],
)
def test_a_datasets_prefix_overlapping_an_upload_prefix_or_malformed_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], reason: str
) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^FILEDOCK_CATALOGUE_DATASETS_PREFIX: .*{reason}"):
        load_settings(data_dir=tmp_path)
