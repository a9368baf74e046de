import pytest
from typer.testing import CliRunner

from kiban.cli import _mount_domains, app
from kiban.core.models import Municipality, StaffUser

runner = CliRunner()
_mount_domains()


def test_ids_check_valid_mynumber():
    r = runner.invoke(app, ["ids", "check", "mynumber", "123456789018"])
    assert r.exit_code == 0 and "valid" in r.output


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("mynumber", "123456789012", "check_digit"),
        ("mynumber", "12345678901", "length"),
        ("mynumber", "12345678901a", "non_digit"),
        ("corporate", "2835678256246", "check_digit"),
        ("lgcode", "131017", "check_digit"),
    ],
)
def test_ids_check_invalid_says_why(kind, value, reason):
    r = runner.invoke(app, ["ids", "check", kind, value])
    assert r.exit_code == 1
    assert reason in r.output


def test_every_subcommand_has_help():
    for args in (
        ["--help"],
        ["ids", "--help"],
        ["audit", "verify", "--help"],
        ["municipality", "add", "--help"],
        ["staff", "add", "--help"],
        ["serve", "--help"],
        ["demo", "seed", "--help"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
        assert "Usage" in r.output


@pytest.mark.django_db(transaction=True)
def test_municipality_and_staff_add():
    r = runner.invoke(app, ["municipality", "add", "011002", "札幌市", "--prefecture", "北海道"])
    assert r.exit_code == 0, r.output
    assert Municipality.objects.get(code="011002").name == "札幌市"
    r = runner.invoke(app, ["municipality", "add", "011003", "誤り市"])
    assert r.exit_code == 1 and "check" in r.output.lower()
    r = runner.invoke(
        app,
        [
            "staff",
            "add",
            "sapporo-clerk",
            "--roles",
            "registry_clerk",
            "-m",
            "011002",
            "--password",
            "long-enough-pass-1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert StaffUser.objects.get(username="sapporo-clerk").roles == ["registry_clerk"]
    r = runner.invoke(
        app,
        [
            "staff",
            "add",
            "x",
            "--roles",
            "wizard",
            "-m",
            "011002",
            "--password",
            "long-enough-pass-1",
        ],
    )
    assert r.exit_code == 1 and "wizard" in r.output
