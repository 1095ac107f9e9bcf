"""The CORS origins ``make label`` starts MONAI Label with (monai_ext.apps.label.server): exact strings, as a
browser's ``Origin`` header carries them, whatever pydantic makes of URL types. Pure Python: no MONAI Label."""

from __future__ import annotations

import pytest

from monai_ext.apps.label.server import OriginError, cors_origins, origin


def test_the_default_is_the_servers_own_origin():
    assert cors_origins(None, "127.0.0.1", 8000) == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert cors_origins("", "localhost", 8123) == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert cors_origins(" ", "10.1.2.3", 8000) == ["http://10.1.2.3:8000"]


def test_given_origins_are_taken_as_a_browser_sends_them():
    given = '["http://127.0.0.1:8000/", "https://Viewer.example.org", "http://127.0.0.1:8000"]'
    assert cors_origins(given, "127.0.0.1", 8000) == ["http://127.0.0.1:8000", "https://viewer.example.org"]
    assert cors_origins("http://a.org:3000,https://b.org", "0.0.0.0", 8000) == ["http://a.org:3000", "https://b.org"]
    assert origin("http://[::1]:8000") == "http://[::1]:8000"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('["ftp://a.org"]', "scheme is not http or https"),
        ('["http://a.org/viewer"]', "a path, query or fragment"),
        ('["http://a.org?x=1"]', "a path, query or fragment"),
        ('["http://user:pw@a.org"]', "a user name or password"),
        ('["http://a.org:99999"]', "a port that is not a number"),
        ('["*"]', "scheme is not http or https"),
        ("[]", "empty (MONAI Label would then allow every origin)"),
        ('{"a": 1}', "scheme is not http or https"),
        ('[{"a": 1}]', "not a string"),
        ("[not json", "not a JSON list"),
        ("[1]", "not a string"),
    ],
)
def test_a_bad_origin_is_refused_naming_it(value, words):
    with pytest.raises(OriginError) as raised:
        cors_origins(value, "127.0.0.1", 8000)
    assert words in str(raised.value)


def test_a_server_on_every_address_must_be_told_its_origins():
    with pytest.raises(OriginError, match="must be told the origins"):
        cors_origins(None, "0.0.0.0", 8000)
