"""measure/usage.py: the usage file's validation says what is wrong, where, and what would be right."""

from __future__ import annotations

import pytest

from measure.usage import DEFAULT_USAGE, UsageError, load_usage

ENVIRONMENTS = ["dev", "prod"]


def _load(tmp_path, text: str, environments=ENVIRONMENTS):
    path = tmp_path / "usage.toml"
    path.write_text(text)
    return load_usage(path, environments)


def _problems(tmp_path, text: str, environments=ENVIRONMENTS) -> list[str]:
    with pytest.raises(UsageError) as raised:
        _load(tmp_path, text, environments)
    return raised.value.problems


def test_without_a_file_every_environment_gets_the_stated_default_profile():
    profile = load_usage(None, ENVIRONMENTS)
    assert profile.usage["dev"].requests_per_second == 0.2
    assert profile.usage["prod"].requests_per_second == 10
    assert "default profile" in profile.source and DEFAULT_USAGE.name in profile.source


def test_a_section_overrides_what_it_gives_and_the_rest_comes_from_the_default(tmp_path):
    profile = _load(tmp_path, "[prod]\nrequests_per_second = 250\nresponse_bytes = 12000\n")
    assert (profile.usage["prod"].requests_per_second, profile.usage["prod"].response_bytes) == (250, 12000)
    assert profile.usage["prod"].request_bytes == 800  # the default profile's
    assert profile.usage["dev"] == load_usage(None, ENVIRONMENTS).usage["dev"]
    assert "usage.toml (prod); the default profile for dev" in profile.source


@pytest.mark.parametrize(("text", "problem"), [
    ("[prod]\nrequests_per_second = -1\n", "[prod] requests_per_second=-1: Input should be greater than or equal to 0"),
    ("[prod]\nrequests_per_second = \"10\"\n", "[prod] requests_per_second='10': must be a number, not '10'"),
    ("[prod]\nresponse_bytes = true\n", "[prod] response_bytes=True: must be a number, not True"),
    ("[prod]\nresponse_bytes = 1.5\n", "[prod] response_bytes=1.5: Input should be a valid integer"),
    ("[prod]\nrequest_per_second = 10\n", "[prod] request_per_second: unknown field (did you mean "
                                          "'requests_per_second'?)"),
    ("[staging]\nrequests_per_second = 1\n", "[staging]: no environment of that name in cdk.json (dev, prod)"),
    ("prod = 3\n", "prod = 3: outside any [env] section; it must be a [prod] section of fields"),
    ("requests_per_second = 5\n[prod]\n", "requests_per_second = 5: outside any [env] section; it must be a field "
                                          "of an [env] section"),
    ("[prod]\nrequests_per_second = nan\n", "[prod] requests_per_second=nan: must be a finite number"),
    ("[prod]\nactive_connections = 1e12\n", "[prod] active_connections=1000000000000.0: Input should be less than "
                                            "or equal to 100000000"),
])
def test_each_bad_value_is_named_with_its_section_and_what_is_accepted(tmp_path, text, problem):
    assert problem in _problems(tmp_path, text)


def test_every_problem_is_reported_at_once(tmp_path):
    problems = _problems(tmp_path, "[dev]\nrequests_per_second = -1\n[prod]\nimage_pull_mb = \"big\"\n[qa]\n")
    assert len(problems) == 3


def test_an_environment_the_default_profile_does_not_know_must_give_every_field(tmp_path):
    problems = _problems(tmp_path, "[staging]\nrequests_per_second = 1\n", [*ENVIRONMENTS, "staging"])
    assert "[staging] request_bytes: missing: the default profile has no [staging] section; give every field in " \
        "your usage file's [staging], or add the section to default_usage.toml" in problems


def test_a_file_that_is_not_toml_or_not_there_says_so(tmp_path):
    assert _problems(tmp_path, "[prod\n")[0].startswith("not valid TOML:")
    with pytest.raises(UsageError, match="cannot read it"):
        load_usage(tmp_path / "missing.toml", ENVIRONMENTS)


def test_the_report_refuses_a_bad_usage_file_before_synthesizing(tmp_path, capsys):
    from measure import report

    path = tmp_path / "usage.toml"
    path.write_text("[prod]\nrequests_per_second = -5\n")
    assert report.main(["--usage", str(path)]) == 2
    assert "[prod] requests_per_second=-5" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "lots"])
def test_the_spot_discount_must_be_a_fraction_below_one(value, capsys):
    from measure import report

    with pytest.raises(SystemExit):
        report.main(["--spot-discount", value])
    assert "--spot-discount" in capsys.readouterr().err
