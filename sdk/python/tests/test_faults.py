"""Fault codes, names and the original message format."""

from __future__ import annotations

import errno
import os

from pluton import Fault, FaultCode
from pluton.faults import fault_english, fault_name


def test_codes_match_the_original_numbers():
    assert FaultCode.NO_FAULT == 0
    assert FaultCode.SERVICE_TIMEOUT == -19
    assert FaultCode.SERVICE_NOT_FOUND == -30
    assert FaultCode.CONTEXT_FORMAT_ERROR == -22
    assert FaultCode.REQUEST_DECODE_FAILED == -57
    assert FaultCode.SHM_IMPOSSIBLY_SMALL == -107
    assert FaultCode.SERIOUS_INTERNAL_ROUTING_ERROR == -999
    assert len(FaultCode) == 70
    assert (FaultCode.SERVICE_EXCEPTION, FaultCode.SERVICE_UNAVAILABLE) == (6, 7)


def test_every_code_has_a_name_and_description():
    for code in FaultCode:
        assert fault_name(code) and fault_english(code), code
    assert fault_name(111) == "" and fault_english(111) == ""


def test_long_and_short_messages():
    f = Fault(FaultCode.SERVICE_NOT_FOUND, "nosuch.thing.0.raw")
    assert f.name == "serviceNotFound" and f.is_system
    assert f.message() == "pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'"
    assert f.message("plSend:", long_format=False) == "plSend: pluton::Fault=-30 'nosuch.thing.0.raw'"
    assert str(f) == f.message()


def test_errno_and_service_faults():
    f = Fault(FaultCode.CONNECT_FAILED, "/r/x.socket", errno.ECONNREFUSED)
    assert f.message() == ("pluton::Fault=-16 (connectFailed:connect() failed) errno=%d:%s '/r/x.socket'"
                           % (errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED)))
    assert f.message(long_format=False) == "pluton::Fault=-16 errno=%d '/r/x.socket'" % errno.ECONNREFUSED
    s = Fault(111, "sleep time negative")
    assert not s.is_system and s.name == ""
    assert s.message() == "pluton::Fault=111 'sleep time negative'"
    assert repr(s) == "Fault(111, 'sleep time negative')"


def test_names_and_texts_come_from_the_spec():
    from pluton._spec import FAULTS

    assert {code for code, _, _ in FAULTS} == {int(c) for c in FaultCode}
    for code, name, english in FAULTS:
        assert fault_name(code) == name
        assert fault_english(code) == english
    assert fault_english(FaultCode.SERVICE_EXCEPTION) == "the service's own code failed"
