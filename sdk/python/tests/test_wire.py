"""Packet encoding (byte-exact emission order), numbers and contexts."""

from __future__ import annotations

import pytest

from pluton.wire import (ContextError, RequestPacket, ResponsePacket, encode_context_pair,
                         encode_request, encode_response, parse_context, parse_number,
                         request_parts, response_parts)
from test_parser import (REQ_AFFINITY_2, REQ_ALL_ATTRS, REQ_CONTEXT, REQ_NOWAIT, REQ_PLTEST_EMPTY,
                         RESP_FAULT, RESP_OK, RESP_PLTEST_EMPTY)


def test_captured_request_with_context():
    ctx = encode_context_pair(b"echo.sleepMS", b"5")
    r = RequestPacket(100, b"plSend:26446", b"system.echo.0.raw", 4000, context=ctx, data=b"Hello")
    assert encode_request(r) == REQ_CONTEXT


def test_captured_request_with_every_attribute():
    r = RequestPacket(100, b"myApp:4242", b"system.echo.0.raw", 4000, True, True, True, True, True,
                      context=encode_context_pair(b"echo.sleepMS", b"500"), data=b"ping")
    assert encode_request(r) == REQ_ALL_ATTRS


def test_captured_noWait_affinity_and_empty_requests():
    assert encode_request(RequestPacket(100, b"plPing:27036", b"system.echo.0.raw", 5000,
                                        no_wait=True, data=b"LMNOP")) == REQ_NOWAIT
    assert encode_request(RequestPacket(101, b"plPing:27037", b"system.echo.0.raw", 5000, no_retry=True,
                                        keep_affinity=True, need_affinity=True, data=b"LMN")) == REQ_AFFINITY_2
    assert encode_request(RequestPacket(0, b"", b"plTest.service.0.raw", 0)) == REQ_PLTEST_EMPTY


def test_file_descriptor_flag_sits_between_context_and_data():
    r = RequestPacket(1, b"", b"a.b.0.raw", 0, file_descriptor=True, context=b"1kk,1vv,", data=b"d")
    assert encode_request(r) == b"0Q,1b1,9ca.b.0.raw,1l0,8j1kk,1vv,,0m,1kd,0z\n"


def test_captured_responses():
    assert encode_response(ResponsePacket(100, b"plSend:26446", b"echo:26429/0", data=b"Hello")) == RESP_OK
    assert encode_response(ResponsePacket(100, b"plSend:26448", b"echo:26429/0", 111,
                                          b"sleep time negative")) == RESP_FAULT
    assert encode_response(ResponsePacket(0, b"", b"echo:706/0")) == RESP_PLTEST_EMPTY


def test_fault_text_only_with_a_code_and_code_without_text():
    assert encode_response(ResponsePacket(1, fault_text=b"ignored")) == b"0A,1b1,0z\n"
    assert encode_response(ResponsePacket(1, fault_code=-22)) == b"0A,1b1,3p-22,0z\n"


def test_parts_leave_the_data_uncopied():
    data = b"x" * 100000
    head, body, trailer = request_parts(RequestPacket(7, b"c:1", b"a.b.0.raw", 10, data=data))
    assert body is data and head.endswith(b",100000k") and trailer == b",0z\n"
    head, body, trailer = response_parts(ResponsePacket(7, data=b""))
    assert (head, body, trailer) == (b"0A,1b7,", b"", b"0z\n")


@pytest.mark.parametrize("text, value", [
    (b"100", 100), (b"  42", 42), (b"+5", 5), (b"-111", -111), (b"12abc", 12), (b"", 0), (b"abc", 0),
    (b"-", 0), (b"99999999999999999999999", (1 << 63) - 1), (b"-99999999999999999999999", -(1 << 63)),
    (b"9223372036854775807", (1 << 63) - 1), (b"9223372036854775808", (1 << 63) - 1),
    (b"-9223372036854775808", -(1 << 63)), (b"-9223372036854775809", -(1 << 63)),
])
def test_parse_number_is_strtol(text, value):
    assert parse_number(text) == value


def test_context_round_trip_last_value_wins():
    payload = (encode_context_pair(b"a", b"1") + encode_context_pair(b"b", b"")
               + encode_context_pair(b"a", b"x,y\n"))
    assert parse_context(payload) == {b"a": b"x,y\n", b"b": b""}
    assert parse_context(b"") == {}


@pytest.mark.parametrize("payload, message", [
    (b"1xk,1vv,", "Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'"),
    (b"1kk,1xv,", "Service Error: Unexpected Context type. Wanted: 'v', but got: 'x'"),
    (b"1\xffk,1vv,", "Service Error: Unexpected Context type. Wanted: 'k', but got: '\udcff'"),  # the byte 0xff
    (b"1kk,", "Service Error: Context leading netString character not a digit"),
    (b"xkk,", "Service Error: Context leading netString character not a digit"),
    (b"5kk,", "Service Error: Context truncated"),
    (b"12", "Service Error: Context truncated"),
    (b"1kk;1vv,", "Service Error: Context incorrect netString terminator - comma or \\n expected"),
    (b"1234567890k", "Service Error: Context netString length value greater than 999999999"),
])
def test_malformed_contexts(payload, message):
    with pytest.raises(ContextError) as e:
        parse_context(payload)
    assert str(e.value) == message
