"""``[redis] sentinels`` and ``sentinel_master``: a Redis found through Sentinel."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import settings
from monitor.cli import main
from tests.unit.core.test_settings import errors, write


def redis(tmp_path: Path, lines: str) -> Path:
    return write(tmp_path, "[redis]\n" + lines)


def test_sentinels_with_a_master_name_and_no_url_are_valid(tmp_path: Path) -> None:
    path = redis(tmp_path, 'sentinels = ["10.0.0.1:26379", "[::1]:26380"]\n'
                           'sentinel_master = "vixmon"\n')  # fmt: skip
    rc = settings.load(path).settings.redis
    assert rc.sentinel_addresses() == [("10.0.0.1", 26379), ("::1", 26380)]
    assert rc.url == ""  # never the embedded server: ``vixmon run`` asks the Sentinels


def test_a_url_may_carry_the_password_and_database_alone(tmp_path: Path) -> None:
    path = redis(tmp_path, 'sentinels = ["s1:26379"]\nsentinel_master = "m"\n'
                           'url = "redis://:secret@/2"\n')  # fmt: skip
    assert settings.load(path).settings.redis.url == "redis://:secret@/2"


def test_sentinels_need_the_master_name(tmp_path: Path) -> None:
    path = redis(tmp_path, 'sentinels = ["s1:26379"]\n')
    assert errors(path) == [
        "redis.sentinel_master: needed with redis.sentinels (the name in `sentinel monitor`)"
    ]


def test_a_master_name_needs_sentinels(tmp_path: Path) -> None:
    path = redis(tmp_path, 'sentinel_master = "m"\n')
    assert errors(path) == [
        "redis.sentinels: needed with redis.sentinel_master (host:port of each)"
    ]


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("s1", "'s1' is not host:port"),
        (":26379", "':26379' is not host:port"),
        ("s1:0", "'s1:0': the port must be a number from 1 to 65535"),
        ("s1:65536", "'s1:65536': the port must be a number from 1 to 65535"),
        ("s1:http", "'s1:http': the port must be a number from 1 to 65535"),
    ],
)
def test_each_sentinel_must_be_host_and_port(tmp_path: Path, given: str, why: str) -> None:
    path = redis(tmp_path, f'sentinels = ["s0:26379", "{given}"]\nsentinel_master = "m"\n')
    assert errors(path) == [f"redis.sentinels[1]: {why}"]


def test_sentinels_and_cluster_exclude_each_other(tmp_path: Path) -> None:
    path = redis(tmp_path, 'sentinels = ["s1:26379"]\nsentinel_master = "m"\n'
                           'cluster = true\nurl = "redis://n1:7000"\n')  # fmt: skip
    assert "redis.sentinels: not with redis.cluster (a Cluster fails over by itself)" in (
        errors(path))  # fmt: skip


@pytest.mark.parametrize("url", ["redis://r1:6379/0", "redis://:pw@r1/0", "unix:///tmp/r.sock",
                                 "rediss://:pw@/0"])  # fmt: skip
def test_with_sentinels_a_url_naming_a_server_is_refused(tmp_path: Path, url: str) -> None:
    path = redis(tmp_path, f'sentinels = ["s1:26379"]\nsentinel_master = "m"\nurl = "{url}"\n')
    assert errors(path) == [
        "redis.url: with redis.sentinels give only user, password and database, as "
        "redis://:password@/0 (the master's address comes from Sentinel)"
    ]


def test_partitioned_engines_may_share_a_redis_found_through_sentinel(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nsentinels = ["s1:26379"]\nsentinel_master = "m"\n'
                           "[scale]\npartitions = 8\n")  # fmt: skip
    assert settings.load(path).settings.scale.partitions == 8


def test_check_config_exits_2_on_a_sentinel_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(redis(tmp_path, 'sentinels = ["s1"]\n'))])
    assert info.value.code == 2
    assert "redis.sentinels[0]: 's1' is not host:port" in capsys.readouterr().err
