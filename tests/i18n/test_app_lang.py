"""``run.py app --lang zh``: the language reaches the page, which reads it with page_language."""

import pytest

import i18n
from cli.main import main
from dashboard import server


def test_app_passes_the_language_to_the_server(monkeypatch):
    calls = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: calls.append(kwargs) or 0)
    assert main(["app", "--lang", "zh"]) == 0
    assert main(["app"]) == 0
    assert [c["lang"] for c in calls] == ["zh", "en"]


def test_the_language_travels_in_the_environment_and_the_page_reads_it():
    env = server.server_environment(None, "zh")
    assert env[server.LANG_ENV] == "zh"
    assert server.page_language(env) == "zh"
    assert server.page_language({}) == "en"
    _ = i18n.translator(server.page_language(env))
    assert _("stability") == "稳定期"


def test_a_bad_language_is_refused(capsys):
    with pytest.raises(i18n.LanguageError):
        server.page_language({server.LANG_ENV: "fr"})
    with pytest.raises(SystemExit) as exit_:
        main(["app", "--lang", "fr"])
    assert exit_.value.code == 2
