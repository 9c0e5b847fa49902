"""check-config refuses everything `run` would trip over, naming the TOML path, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import settings
from monitor.cli import main
from tests.unit.core.test_settings import errors, write


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[engine]\nmark_max_age_s = inf\n", "engine.mark_max_age_s: "),
        ("[engine]\nstale_after_s = nan\n", "engine.stale_after_s: "),
        ("[engine]\nrate = nan\n", "engine.rate: "),
        ("[http]\nport = 99999\n", "http.port: Expected `int` <= 65535"),
        ("[redis]\nblock_ms = -5\n", "redis.block_ms: Expected `int` >= 1"),
        ("[redis]\nread_count = 0\n", "redis.read_count: Expected `int` >= 1"),
        ('[[feeds]]\nkind = "simulator"\ntick_interval_ms = 0\n', "feeds[0].tick_interval_ms: "),
        ('[[feeds]]\nkind = "simulator"\nspeed = inf\n', "feeds[0].speed: "),
        ("[rules.stress]\nmin_coverage = inf\n", "rules.stress.min_coverage: must be a finite"),
        ("[rules.breakeven]\nk_sigma = nan\n", "rules.breakeven.k_sigma: "),
        ("[alerts]\ncooldown_s = -1.0\n", "alerts.cooldown_s: Expected `float` >= 0"),
    ],
)
def test_a_number_run_cannot_use_is_refused_with_its_path(
    tmp_path: Path, config: str, message: str
) -> None:
    found = errors(write(tmp_path, config))
    assert len(found) == 1
    assert found[0].startswith(message)


def test_check_config_exits_2_on_a_non_finite_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(write(tmp_path, "[engine]\nmark_max_age_s = inf\n"))])
    assert info.value.code == 2
    assert "engine.mark_max_age_s: must be a finite number" in capsys.readouterr().err


def test_an_unknown_key_in_a_nested_table_names_the_full_path(tmp_path: Path) -> None:
    assert errors(write(tmp_path, "[rules.roll]\notm_slak = 0.1\n")) == [
        "rules.roll.otm_slak: unknown key"
    ]


def test_an_unknown_key_in_a_feed_names_its_index(tmp_path: Path) -> None:
    found = errors(write(tmp_path, '[[feeds]]\nkind = "simulator"\nticks = 1\n'))
    assert found == ["feeds[0].ticks: unknown key"]


def test_invalid_utf8_is_a_config_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "")
    path.write_bytes(path.read_bytes() + b'# caf\xe9\n')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid UTF-8 at byte" in err
    assert "Traceback" not in err


def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_text(path.read_text() + "[redis\n")
    with pytest.raises(settings.ConfigError) as info:
        settings.load(path)
    assert info.value.errors[0].startswith(f"{path}: invalid TOML: ")
    assert "(at line" in info.value.errors[0]


def test_a_nul_byte_in_a_path_is_a_config_error(tmp_path: Path) -> None:
    found = errors(write(tmp_path, '[rules.calendar]\npath = "ev\\u0000ents.toml"\n'))
    assert found == ["rules.calendar.path: must not contain a NUL character"]


def test_a_nul_byte_in_the_config_path_is_a_config_error() -> None:
    with pytest.raises(settings.ConfigError) as info:
        settings.load(Path("/tmp/vix\x00mon.toml"))
    assert "embedded null byte" in info.value.errors[0]


def test_a_missing_replay_file_is_named(tmp_path: Path) -> None:
    found = errors(write(tmp_path, '[[feeds]]\nkind = "replay"\npath = "nope.jsonl"\n'))
    assert len(found) == 1 and found[0].startswith("feeds[0].path: no such file")


TRADIER = '[[feeds]]\nkind = "tradier"\ntoken = {}\n'


@pytest.mark.parametrize(
    ("ref", "environ", "message"),
    [
        ('{ env = "VIXMON_TEST_TOKEN" }', {}, "environment variable VIXMON_TEST_TOKEN is not set"),
        ("{}", {}, "names no env var, file or credential"),
        ('{ file = "/nonexistent/token" }', {}, "cannot read secret file /nonexistent/token"),
        ('{ env = "VIXMON_TEST_TOKEN" }', {"VIXMON_TEST_TOKEN": " "}, "the secret is empty"),
    ],
)
def test_every_secret_is_resolved_by_check_config(
    tmp_path: Path, ref: str, environ: dict[str, str], message: str
) -> None:
    path = write(tmp_path, TRADIER.replace("{}", ref))
    with pytest.raises(settings.ConfigError) as info:
        settings.load(path, environ=environ)
    [error] = info.value.errors
    assert error.split(": ", 1)[1].startswith("feeds[0].token: ")
    assert message in error


def test_an_empty_sink_secret_is_named_as_empty(tmp_path: Path) -> None:
    sink = '[[sinks]]\nkind = "slack"\nname = "ops"\nwebhook_url = { env = "VIXMON_TEST_HOOK" }\n'
    with pytest.raises(settings.ConfigError) as info:
        settings.load(write(tmp_path, sink), environ={"VIXMON_TEST_HOOK": ""})
    [error] = info.value.errors
    assert error.endswith("sinks.ops.webhook_url: the secret is empty")


def test_a_resolved_secret_is_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIXMON_TEST_HOOK", "not-a-url-s3cr3t")
    sink = '[[sinks]]\nkind = "slack"\nname = "ops"\nwebhook_url = { env = "VIXMON_TEST_HOOK" }\n'
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(write(tmp_path, sink))])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "sinks.ops.webhook_url" in err
    assert "s3cr3t" not in err


def test_a_resolvable_secret_passes(tmp_path: Path) -> None:
    path = write(tmp_path, TRADIER.replace("{}", '{ env = "VIXMON_TEST_TOKEN" }'))
    assert settings.load(path, environ={"VIXMON_TEST_TOKEN": "t0ken"}).settings.feeds


def test_a_simulator_faster_than_real_time_needs_market_time(tmp_path: Path) -> None:
    sim = '[[feeds]]\nkind = "simulator"\nspeed = 10.0\n'
    [error] = errors(write(tmp_path, sim))
    assert error.startswith("feeds[0].speed: above 1 the simulated clock runs ahead")
    market = '[engine]\ntime_source = "market"\n' + sim
    assert settings.load(write(tmp_path, market)).settings.feeds
