"""Service key parsing: the original's rules and messages, plus '/' and NUL."""

from __future__ import annotations

import pytest

from pluton import ServiceKey, ServiceKeyError


@pytest.mark.parametrize("text, parts", [
    ("system.echo.0.raw", ("system", "echo", 0, "raw")),
    ("AddressBook.AddEntry.123456.JSON", ("AddressBook", "AddEntry", 123456, "JSON")),
    ("a" * 32 + "." + "f" * 32 + ".9.NETSTRING", ("a" * 32, "f" * 32, 9, "NETSTRING")),
    ("x.y.10.COBOL", ("x", "y", 10, "COBOL")),
    ("x.y.1.HTML", ("x", "y", 1, "HTML")),
    ("x.y.1.JMS", ("x", "y", 1, "JMS")),
    ("x.y.1.PHP", ("x", "y", 1, "PHP")),
    ("x.y.1.SOAP", ("x", "y", 1, "SOAP")),
    ("x.y.1.XML", ("x", "y", 1, "XML")),
    ("weird app!.f n.1.raw", ("weird app!", "f n", 1, "raw")),
])
def test_valid_keys(text, parts):
    k = ServiceKey.parse(text)
    assert (k.application, k.function, k.version, k.serialization) == parts
    assert str(k) == text


@pytest.mark.parametrize("text, reason", [
    ("system.echo.0", "need four dot-separated tokens"),
    ("", "need four dot-separated tokens"),
    ("system.echo.0.raw.", "more than four dot-separated tokens"),
    ("a.b.c.d.e", "more than four dot-separated tokens"),
    ("sys/tem.echo.0.raw", "contains '/'"),
    ("system.ec/ho.0.raw", "contains '/'"),
    ("system.echo\0.0.raw", "contains a NUL byte"),
    (".echo.0.raw", "Application Name length is not in the range 1-32 characters"),
    ("a" * 33 + ".echo.0.raw", "Application Name length is not in the range 1-32 characters"),
    ("system..0.raw", "Service Function is zero length"),
    ("system." + "f" * 33 + ".0.raw", "Service Function length is greater than 32 characters"),
    ("system.echo..raw", "Service Version length is not in the range 1-6 characters"),
    ("system.echo.1234567.raw", "Service Version length is not in the range 1-6 characters"),
    ("system.echo.034.raw", "version has ambiguous leading zero"),
    ("system.echo.00.raw", "version has ambiguous leading zero"),
    ("system.echo.0x1.raw", "version has ambiguous leading zero"),
    ("system.echo.1x.raw", "version is not a positive integer"),
    ("system.echo.-1.raw", "version is not a positive integer"),
    ("system.echo.0.", "serialization is zero length"),
    ("system.echo.0.RAW", "serialization type is unrecognized"),
    ("system.echo.0.json", "serialization type is unrecognized"),
])
def test_invalid_keys(text, reason):
    with pytest.raises(ServiceKeyError) as e:
        ServiceKey.parse(text)
    assert e.value.reason == reason and str(e.value) == reason and e.value.key == text


def test_lengths_are_counted_in_bytes():
    with pytest.raises(ServiceKeyError, match="Application Name length"):
        ServiceKey.parse("é" * 17 + ".f.0.raw")  # 34 bytes
    assert ServiceKey.parse("é" * 16 + ".f.0.raw").application == "é" * 16


def test_wildcards_only_for_config_names():
    w = ServiceKey.parse("AddressBook..0.JSON", client=False)
    assert w.is_wildcard and str(w) == "AddressBook..0.JSON"
    assert ServiceKey.parse("AddressBook.GetList.0.JSON").wildcard() == w
