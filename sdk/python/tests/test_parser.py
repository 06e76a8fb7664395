"""The streaming packet decoder: captured vectors, every malformed case, chunking."""

from __future__ import annotations

import random

import pytest

from pluton.parser import (NetStringError, PacketError, PacketParser, ProtocolError, TruncatedPacketError,
                           TooLargeError, decode_one, scan_packet)
from pluton.reader import PacketReader
from pluton.wire import (T_CLIENT_NAME, T_CONTEXT, T_FAULT_CODE, T_FAULT_TEXT, T_REQUEST_DATA,
                         T_REQUEST_ID, T_RESPONSE_DATA, T_SERVICE_KEY, T_SERVICE_NAME, T_TIMEOUT,
                         request_from_fields, response_from_fields)

# Captured packets of reference §3.4, verbatim.
REQ_CONTEXT = b"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n"
RESP_OK = b"0A,3b100,12aplSend:26446,12secho:26429/0,5qHello,0z\n"
RESP_FAULT = b"0A,3b100,12aplSend:26448,12secho:26429/0,3p111,19rsleep time negative,0z\n"
REQ_ALL_ATTRS = (b"0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0e,0f,0g,0h,0i,"
                 b"22j12kecho.sleepMS,3v500,,4kping,0z\n")
REQ_NOWAIT = b"0Q,3b100,12aplPing:27036,17csystem.echo.0.raw,4l5000,0e,5kLMNOP,0z\n"
REQ_AFFINITY_1 = b"0Q,3b100,12aplPing:27037,17csystem.echo.0.raw,4l5000,0g,0h,3kLMN,0z\n"
REQ_AFFINITY_2 = b"0Q,3b101,12aplPing:27037,17csystem.echo.0.raw,4l5000,0g,0h,0i,3kLMN,0z\n"
RESP_AFFINITY = b"0A,3b101,12aplPing:27037,12secho:27034/0,3qLMN,0z\n"
REQ_PLTEST_EMPTY = b"0Q,1b0,20cplTest.service.0.raw,1l0,0z\n"
RESP_PLTEST_EMPTY = b"0A,1b0,10secho:706/0,0z\n"
REQ_PLTEST_HEX = bytes.fromhex(
    "30 51 2c 31 62 30 2c 31 37 63 73 79 73 74 65 6d 2e 65 63 68 6f 2e 30 2e 72 61 77 2c 31 6c 30 2c "
    "35 6b 48 65 6c 6c 6f 2c 30 7a 0a")
T80 = b"0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,0z"

REQUESTS = [REQ_CONTEXT, REQ_ALL_ATTRS, REQ_NOWAIT, REQ_AFFINITY_1, REQ_AFFINITY_2,
            REQ_PLTEST_EMPTY, REQ_PLTEST_HEX]
RESPONSES = [RESP_OK, RESP_FAULT, RESP_AFFINITY, RESP_PLTEST_EMPTY]


def test_captured_request_fields():
    f, rest = decode_one(REQ_CONTEXT, b"Q")
    assert rest == b""
    assert f[T_REQUEST_ID] == b"100"
    assert f[T_CLIENT_NAME] == b"plSend:26446"
    assert f[T_SERVICE_KEY] == b"system.echo.0.raw"
    assert f[T_TIMEOUT] == b"4000"
    assert f[T_CONTEXT] == b"12kecho.sleepMS,1v5,"
    assert f[T_REQUEST_DATA] == b"Hello"


def test_captured_attributes_and_noWait():
    r = request_from_fields(decode_one(REQ_ALL_ATTRS, b"Q")[0])
    assert (r.no_wait, r.no_remote, r.no_retry, r.keep_affinity, r.need_affinity) == (True,) * 5
    assert r.client_name == b"myApp:4242" and r.data == b"ping" and not r.file_descriptor
    n = request_from_fields(decode_one(REQ_NOWAIT, b"Q")[0])
    assert n.no_wait and not n.no_retry and n.timeout_ms == 5000 and n.data == b"LMNOP"
    a2 = request_from_fields(decode_one(REQ_AFFINITY_2, b"Q")[0])
    assert a2.request_id == 101 and a2.keep_affinity and a2.need_affinity and a2.no_retry


def test_captured_responses():
    ok = response_from_fields(decode_one(RESP_OK, b"A")[0])
    assert (ok.request_id, ok.client_name, ok.service_name, ok.fault_code, ok.data) == \
        (100, b"plSend:26446", b"echo:26429/0", 0, b"Hello")
    fault = response_from_fields(decode_one(RESP_FAULT, b"A")[0])
    assert (fault.fault_code, fault.fault_text, fault.data) == (111, b"sleep time negative", b"")
    empty = response_from_fields(decode_one(RESP_PLTEST_EMPTY, b"A")[0])
    assert (empty.request_id, empty.client_name, empty.service_name, empty.data) == (0, b"", b"echo:706/0", b"")
    hexed = request_from_fields(decode_one(REQ_PLTEST_HEX, b"Q")[0])
    assert (hexed.request_id, hexed.client_name, hexed.timeout_ms, hexed.data) == (0, b"", 0, b"Hello")


@pytest.mark.parametrize("ending", [b"\n", b","])
def test_t80_end_netstring_accepts_either_terminator(ending):
    f, rest = decode_one(T80 + ending, b"Q")
    assert f[T_TIMEOUT] == b"5000" and rest == b""


@pytest.mark.parametrize("packet, error, message", [
    (T80 + b"X", NetStringError, "incorrect netString terminator - comma or \\n expected"),
    (b"0G," + T80[3:] + b"\n", PacketError, "Unexpected netString type. Wanted: requestPT, but got: 'G' (?unknownPT?)"),
    (T80.replace(b"3b100,", b"3b1x00,") + b"\n", NetStringError,
     "incorrect netString terminator - comma or \\n expected"),
    (T80.replace(b"4l5000,", b"4l5000,4l5000,") + b"\n", PacketError, "Duplicate netString type of 'l'"),
    (b"0Q,123456789012b1," + T80[3:] + b"\n", NetStringError, "netString length value greater than 999999999"),
    (b"0Q,3\t100," + T80[3:] + b"\n", NetStringError, "invalid netString type (not isprint())"),
    (b"xQ," + T80[3:] + b"\n", NetStringError, "leading netString character not a digit"),
    (b"0Q,0{," + T80[3:] + b"\n", PacketError, "Out-of-range netString type: '{'"),
    (b"0Q,1000000000k", NetStringError, "netString length value greater than 999999999"),
    (b"0Q,3\x7fabc,", NetStringError, "invalid netString type (not isprint())"),
    # As the original (packetToEnglish): only packet types have a name there.
    (T80[3:] + b"\n", PacketError, "Unexpected netString type. Wanted: requestPT, but got: 'b' (?unknownPT?)"),
    (b"0A," + T80[3:] + b"\n", PacketError, "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)"),
])
def test_t80_rejections(packet, error, message):
    with pytest.raises(error) as e:
        decode_one(packet, b"Q")
    assert str(e.value) == message


def test_wrong_packet_type_for_a_response_decoder():
    with pytest.raises(PacketError, match=r"^Unexpected netString type\. Wanted: responsePT, "
                                          r"but got: 'Q' \(requestPT\)$"):
        decode_one(REQ_CONTEXT, b"A")


def test_largest_length_is_accepted():
    p = PacketParser(b"Q")
    assert p.feed(b"0Q,999999999k") == (13, False)


def test_unknown_types_are_ignored_and_reserved_ones_too():
    f, _ = decode_one(b"0Q,3b100,3x123,0Q,5tcreds,0z\n", b"Q")
    assert f[T_REQUEST_ID] == b"100"
    assert request_from_fields(f).data == b""


@pytest.mark.parametrize("packet", REQUESTS)
def test_every_truncation_is_an_unexpected_eof(packet):
    for cut in range(1, len(packet)):
        with pytest.raises(TruncatedPacketError, match="^unexpected EOF in packet$"):
            decode_one(packet[:cut], b"Q")


@pytest.mark.parametrize("packet", REQUESTS)
def test_byte_by_byte_feeding_gives_the_same_fields(packet):
    p = PacketParser(b"Q")
    for i in range(len(packet)):
        pos, done = p.feed(packet[i:i + 1])
        assert pos == 1 and done == (i == len(packet) - 1)
    assert p.fields() == decode_one(packet, b"Q")[0]


@pytest.mark.parametrize("packet", RESPONSES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_responses_in_chunks(packet, chunk):
    p = PacketParser(b"A")
    pos, done = 0, False
    while not done:
        used, done = p.feed(packet[pos:pos + chunk])
        pos += used
    assert pos == len(packet) and p.fields() == decode_one(packet, b"A")[0]


def test_number_fields_read_like_strtol():
    f, _ = decode_one(b"0A,4b 12x,2p-7,0z\n", b"A")
    r = response_from_fields(f)
    assert (r.request_id, r.fault_code) == (12, -7)
    assert response_from_fields(decode_one(b"0A,0b,0z\n", b"A")[0]).request_id == 0


class Source:
    """A byte source that hands out at most ``chunk`` bytes per read and counts reads."""

    def __init__(self, data: bytes, chunk: int = 1 << 30) -> None:
        self.data, self.pos, self.chunk, self.reads = data, 0, chunk, 0

    def read_into(self, view: memoryview) -> int:
        self.reads += 1
        n = min(len(view), self.chunk, len(self.data) - self.pos)
        view[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_reader_reads_packets_back_to_back_then_clean_eof():
    src = Source(REQ_CONTEXT + REQ_NOWAIT + REQ_PLTEST_EMPTY, chunk=5)
    r = PacketReader(b"Q", src.read_into)
    got = [r.read_packet() for _ in range(3)]
    assert [request_from_fields(f).data for f in got] == [b"Hello", b"LMNOP", b""]
    assert r.read_packet() is None and r.eof


def test_reader_reports_eof_inside_a_packet():
    r = PacketReader(b"Q", Source(REQ_CONTEXT[:-4]).read_into)
    with pytest.raises(TruncatedPacketError):
        r.read_packet()


def test_large_payload_is_read_in_place_not_copied_chunk_by_chunk():
    data = bytes(range(256)) * (5 * 4096)  # 5 MiB
    packet = b"0A,3b100,%dq%s,0z\n" % (len(data), data)
    src = Source(packet)
    fields = PacketReader(b"A", src.read_into).read_packet()
    assert fields is not None and fields[T_RESPONSE_DATA] == data
    # one chunk read, then the payload buffer (1 MiB, doubling) is filled directly
    assert src.reads <= 6
    small = Source(packet, chunk=4093)
    assert PacketReader(b"A", small.read_into).read_packet()[T_RESPONSE_DATA] == data


def test_declared_length_does_not_allocate_up_front():
    p = PacketParser(b"Q")
    p.feed(b"0Q,999999999k" + b"x" * 10)
    room = p.direct()
    assert room is not None and len(room) <= (1 << 20)
    room.release()


def test_fault_text_and_service_name_fields():
    f, _ = decode_one(RESP_FAULT, b"A")
    assert f[T_SERVICE_NAME] == b"echo:26429/0"
    assert f[T_FAULT_CODE] == b"111" and f[T_FAULT_TEXT] == b"sleep time negative"


# -- the one-pass scanner of whole packets -----------------------------------

def streaming(packet: bytes, want: bytes):
    """What the streaming parser makes of ``packet``: (fields, end) when it
    completes a packet, else the exception type and message (incl. truncation)."""
    p = PacketParser(want)
    try:
        pos, done = p.feed(packet)
    except ProtocolError as e:
        return type(e), str(e)
    return (p.fields(), pos) if done else "incomplete"


@pytest.mark.parametrize("packet, want", [(q, b"Q") for q in REQUESTS] + [(a, b"A") for a in RESPONSES])
def test_scan_decodes_whole_packets_as_the_parser_does(packet, want):
    assert scan_packet(packet, b"0" + want + b",") == streaming(packet, want)
    # followed by the start of another packet: the offset says where it ends
    fields, end = scan_packet(packet + packet[:9], b"0" + want + b",")
    assert (fields, end) == streaming(packet, want)


@pytest.mark.parametrize("packet", REQUESTS)
def test_scan_leaves_every_truncation_to_the_parser(packet):
    for cut in range(len(packet)):
        assert scan_packet(packet[:cut], b"0Q,") is None


@pytest.mark.parametrize("packet", [
    T80 + b"X",                                         # bad terminator
    b"0G," + T80[3:] + b"\n",                           # not a request
    T80.replace(b"4l5000,", b"4l5000,4l5000,") + b"\n",  # duplicate
    b"0Q,123456789012b1," + T80[3:] + b"\n",            # length too long
    b"0Q,0000000003b100," + T80[3:] + b"\n",            # valid, but ten digits
    b"0Q,03b100," + T80[3:] + b"\n",                    # valid leading zero: the scanner takes it
    b"0Q,3\t100," + T80[3:] + b"\n",                    # type not printable
    b"0Q,0{," + T80[3:] + b"\n",                        # type above 'z'
    b"00Q," + T80[3:] + b"\n",                          # valid, but not the usual head
    b"3Qabc," + T80[3:] + b"\n",
    b"0Q,3b100,0z\n",
    b"0Q,0z,",
    b"0Q,0Q," + T80[3:] + b"\n",                        # a second Q: ignored, as the original
])
def test_scan_never_disagrees_with_the_parser(packet):
    got = scan_packet(packet, b"0Q,")
    assert got is None or got == streaming(packet, b"Q")


def test_scan_agrees_with_the_parser_on_random_damage():
    rng = random.Random(1234)
    alphabet = b"0123456789,\nzQAbklq{\x00\x7f "
    for base in REQUESTS:
        for _ in range(400):
            b = bytearray(base)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(b))
                op = rng.randrange(3)
                if op == 0:
                    b[i] = rng.choice(alphabet)
                elif op == 1:
                    del b[i]
                else:
                    b.insert(i, rng.choice(alphabet))
            packet = bytes(b)
            got = scan_packet(packet, b"0Q,")
            assert got is None or got == streaming(packet, b"Q"), packet


def test_reader_parses_bytes_it_is_given_before_reading():
    src = Source(REQ_NOWAIT[20:] + REQ_PLTEST_EMPTY)
    r = PacketReader(b"Q")
    r.reset(src.read_into, REQ_CONTEXT + REQ_NOWAIT[:20])
    assert r.started
    got = [r.read_packet() for _ in range(3)]
    assert [request_from_fields(f).data for f in got] == [b"Hello", b"LMNOP", b""]
    assert r.read_packet() is None and r.eof
    with pytest.raises(ValueError):
        PacketReader(b"Q", chunk_size=4).reset(src.read_into, b"12345")


# -- the size limit (found by conformance/differential_test.go) -------------

def test_size_limit_applies_before_the_type_byte_is_checked():
    p = PacketParser(b"Q", max_length=10)
    with pytest.raises(TooLargeError) as e:
        p.feed(b"0Q,3b100,11\x00")
    assert e.value.length == 11 and e.value.fields[T_REQUEST_ID] == b"100"


def test_input_ending_inside_a_large_prefix_is_truncated():
    p = PacketParser(b"Q", max_length=10)
    pos, done = p.feed(b"0Q,3b100,99999999")
    assert (pos, done) == (17, False) and p.started
