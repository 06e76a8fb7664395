// Command gen writes the conformance vectors: for every case a file of
// request packets (<name>.in), the expected response packets (<name>.out)
// and an entry in cases.json. Expected responses come from a model of the
// testee behaviour specified in conformance/README.md.
//
// Usage: go run ./conformance/gen [-dir conformance/vectors]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/pluton-go/pluton/conformance/vectors"
	"github.com/pluton-go/pluton/go/protocol"
)

func main() {
	dir := flag.String("dir", "conformance/vectors", "directory to write the vectors into")
	flag.Parse()
	cases, files := build()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	manifest, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*dir, "cases.json"), append(manifest, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gen: wrote %d cases to %s\n", len(cases), *dir)
}

// request is one request of a case, as the testee's model sees it.
type request struct {
	key     string
	client  string
	context [][2]string
	data    []byte
	attrs   attrs
	raw     string // a hand-written packet; overrides the fields above when set
}

// attrs are the request attributes a case sets.
type attrs struct{ noRetry, keepAffinity bool }

func (r request) packet() []byte {
	if r.raw != "" {
		return []byte(r.raw)
	}
	var ctx []byte
	for _, kv := range r.context {
		ctx = protocol.AppendContext(ctx, kv[0], kv[1])
	}
	return protocol.AppendRequest(nil, &protocol.Request{ID: 100, ClientName: r.client, ServiceKey: r.key,
		TimeoutMS: 4000, NoRetry: r.attrs.noRetry, KeepAffinity: r.attrs.keepAffinity, Context: ctx, Data: r.data})
}

// respond returns the modelled response (vectors.Respond) to a well-formed request packet.
// The request id is read as the original's strtol reads it (vectors.Strtol).
func respond(pkt []byte) []byte {
	var req protocol.Request
	p := protocol.NewRequestParser()
	if n, done, err := p.Feed(pkt); err != nil || !done || n != len(pkt) {
		log.Fatalf("gen: model cannot decode its own request %q: %v", pkt, err)
	}
	p.Request(&req)
	req.ID = vectors.Strtol(p.Field(protocol.TypeRequestID))
	out, ok := vectors.Respond(&req)
	if !ok {
		log.Fatalf("gen: the model cannot answer %q", pkt)
	}
	return out
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

const t80 = "0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,0z"

func build() ([]vectors.Case, map[string][]byte) {
	echo := func(data []byte) request {
		return request{key: "conformance.echo.0.raw", client: "plSend:26446", data: data}
	}
	allBytes := bytes.Repeat(pattern(256), 4)
	for i := range 256 {
		allBytes[i] = byte(i)
	}
	valid := []struct {
		name, desc string
		reqs       []request
		pltest     bool
	}{
		{"echo_hello", "echo of 5 bytes", []request{echo([]byte("Hello"))}, true},
		{"echo_empty", "echo of 0 bytes: no k, no q netstring", []request{echo(nil)}, true},
		{"echo_one_byte", "echo of 1 byte", []request{echo([]byte("x"))}, true},
		{"echo_binary", "every byte value, including NUL, comma and newline", []request{echo(allBytes)}, true},
		{"echo_4097", "echo across a 4 KiB boundary", []request{echo(pattern(4097))}, true},
		{"echo_65537", "echo across a 64 KiB boundary", []request{echo(pattern(65537))}, true},
		{"echo_1mib_plus_1", "echo of 1 MiB + 1", []request{echo(pattern(1<<20 + 1))}, true},
		{"captured_request", "the captured plSend request of reference §3.4", []request{{raw: "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n"}}, false},
		{"attributes_ignored", "noRemote, noRetry, needAffinity, fd flag and unknown types do not change the echo", []request{{raw: "0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0f,0g,0i,22j12kecho.sleepMS,3v500,,0m,3Yabc,4kping,0z\n"}}, false},
		{"field_order_and_terminators", "fields in another order, newline terminators, leading zeros in lengths", []request{{raw: "0Q\n05kHello\n17csystem.echo.0.raw,03b100,012aplSend:26446\n0z\n"}}, false},
		{"back_to_back", "three packets on one input", []request{echo([]byte("one")), echo(nil), {key: "conformance.key.0.raw", client: "c:1"}}, false},
		{"fault", "fault code and text from the context", []request{{key: "conformance.fault.0.raw", client: "plSend:26448", context: [][2]string{{"fault.code", "111"}, {"fault.text", "sleep time negative"}}}}, true},
		{"fault_no_text", "a fault without text sends no r netstring", []request{{key: "conformance.fault.0.raw", context: [][2]string{{"fault.code", "4242"}}}}, true},
		{"context_pairs", "every pair, an empty value, a repeated key (last wins), separators in values, a missing key", []request{{key: "conformance.context.0.raw", client: "a:1",
			context: [][2]string{{"alpha", "1"}, {"beta", "two words"}, {"empty", ""}, {"alpha", "3"}, {"sep", "a,b\nc:d"}},
			data:    []byte("alpha\nbeta\nempty\nsep\nmissing\n")}}, true},
		{"context_bad", "a malformed context: fault 22 with the decoder's message", []request{{raw: "0Q,3b100,25cconformance.context.0.raw,4l4000,8j1xa,1v1,,1ka,0z\n"}}, false},
		{"key_parts", "the four parts of the key and the key", []request{{key: "conformance.key.7.JSON", client: "k:9"}}, true},
		{"key_all_serializations", "every serialization name", []request{
			{key: "a.key.0.COBOL"}, {key: "a.key.0.HTML"}, {key: "a.key.0.JMS"}, {key: "a.key.0.JSON"},
			{key: "a.key.0.NETSTRING"}, {key: "a.key.0.PHP"}, {key: "a.key.0.SOAP"}, {key: "a.key.0.XML"}, {key: "a.key.999999.raw"}}, false},
		{"client_name", "the client name is echoed in a and readable", []request{{key: "conformance.client.0.raw", client: "myApp:4242"}}, false},
		{"client_name_absent", "no client name: no a netstring, empty name", []request{{key: "conformance.client.0.raw"}}, true},
		{"unknown_function", "fault 2 for a function the testee does not know", []request{{key: "conformance.nosuch.0.raw", client: "x:1"}}, true},
		{"request_id_numbers", "the id is a number as strtol reads it (sign, leading zeros, trailing junk, empty, absent) and is echoed in canonical form", []request{
			{raw: "0Q,4b12xy,22cconformance.echo.0.raw,1k1,0z\n"}, {raw: "0Q,5b-0100,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,0b,22cconformance.echo.0.raw,0z\n"}, {raw: "0Q,2b+7,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,22cconformance.echo.0.raw,0z\n"}}, false},
		{"context_errors", "every kind of malformed context: fault 22 with the decoder's message (docs/protocol.md §1.2 rule 8)", []request{
			{raw: "0Q,3b100,25cconformance.context.0.raw,8j1ka,1ka,,2ka\n,0z\n"},
			{raw: "0Q,3b100,25cconformance.context.0.raw,3j5ka,2ka\n,0z\n"},
			{raw: "0Q,3b100,25cconformance.context.0.raw,5j1ka,x,2ka\n,0z\n"},
			{raw: "0Q,3b100,25cconformance.context.0.raw,8j1ka;1vb,,2ka\n,0z\n"},
			{raw: "0Q,3b100,25cconformance.context.0.raw,13j1000000000ka,,2ka\n,0z\n"},
			{raw: "0Q,3b100,25cconformance.context.0.raw,4j1\ta,,2ka\n,0z\n"}}, false},
		{"flags", "the keepAffinity attribute as the service reads it (noWait cannot be seen: no response)", []request{
			{key: "conformance.flags.0.raw", client: "f:1"},
			{key: "conformance.flags.0.raw", client: "f:1", attrs: attrs{noRetry: true, keepAffinity: true}}}, false},
		// Found by the differential test (conformance/differential_test.go).
		{"second_Q_ignored", "the packet type is not a field: a second Q later in a packet is an unknown type, ignored (as the original's decodePacket)", []request{
			{raw: "0Q,3b100,0Q,22cconformance.echo.0.raw,2kHi,0z\n"}, {raw: "0Q,0Q,3b101,22cconformance.echo.0.raw,0z\n"}}, false},
		{"request_id_overflow", "an id beyond 64 bits saturates at LONG_MAX or LONG_MIN, as strtol", []request{
			{raw: "0Q,20b99999999999999999999,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,21b-99999999999999999999,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,19b9223372036854775807,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,19b9223372036854775808,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,20b-9223372036854775808,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,20b-9223372036854775809,22cconformance.echo.0.raw,0z\n"},
			{raw: "0Q,19b4611686018427387905,22cconformance.echo.0.raw,0z\n"}}, false},
		{"context_error_high_byte", "a context type byte of 0x80 and above is named as it is, not UTF-8 encoded", []request{
			{raw: "0Q,3b100,25cconformance.context.0.raw,8j1\xffa,1vb,,2ka\n,0z\n"}}, false},
		{"fault_code_overflow", "a fault code beyond 64 bits, saturated by the testee (Go's Atoi), goes out as an integer", []request{
			{key: "conformance.fault.0.raw", context: [][2]string{{"fault.code", "99999999999999999999"}}},
			{key: "conformance.fault.0.raw", context: [][2]string{{"fault.code", "-99999999999999999999"}}}}, false},
		{"unknown_function_bad_context", "fault 2 for an unknown function even with a malformed context (only a lookup reads it)", []request{
			{raw: "0Q,3b100,24cconformance.nosuch.0.raw,3j1ka,0z\n"}}, false},
		{"sleep", "sleep sleep.ms milliseconds, then echo", []request{{key: "conformance.sleep.0.raw", client: "s:1",
			context: [][2]string{{"sleep.ms", "20"}}, data: []byte("slept")}}, true},
	}

	var cases []vectors.Case
	files := map[string][]byte{}
	for _, v := range valid {
		var in, out []byte
		for _, r := range v.reqs {
			p := r.packet()
			in = append(in, p...)
			out = append(out, respond(p)...)
		}
		c := vectors.Case{Name: v.name, Description: v.desc, Expect: vectors.ExpectOK}
		c.PlTest = v.pltest
		cases = append(cases, withFiles(c, in, out, files))
	}

	good := string(echo([]byte("Hi")).packet())
	malformed := []struct{ name, desc, in, out, stderr string }{
		{"bad_end_0zX", "reference §3.4: ends 0zX", t80 + "X", "", "incorrect netString terminator"},
		{"first_type_G", "reference §3.4: first type 0G,", "0G," + t80[3:] + "\n", "", "Wanted: requestPT, but got: 'G'"},
		{"response_as_request", "a response packet sent to a service", "0A,3b100,0z\n", "", "Wanted: requestPT, but got: 'A'"},
		{"missing_Q", "no packet-type netstring", "3b100,17csystem.echo.0.raw,0z\n", "", "Wanted: requestPT, but got: 'b'"},
		{"bad_length", "reference §3.4: length 3b1x00,", "0Q,3b1x00,17csystem.echo.0.raw,0z\n", "", "incorrect netString terminator"},
		{"duplicate_type", "reference §3.4: 4l5000, twice", "0Q,3b100,17csystem.echo.0.raw,4l5000,4l5000,0z\n", "", "Duplicate netString type of 'l'"},
		{"twelve_digit_length", "reference §3.4: a 12-digit length", "0Q,123456789012k,0z\n", "", "greater than 999999999"},
		{"length_overflow", "length 1,000,000,000", "0Q,1000000000k,0z\n", "", "greater than 999999999"},
		{"tab_type", "reference §3.4: a TAB as type", "0Q,3\tabc,0z\n", "", "not isprint()"},
		{"non_digit_start", "reference §3.4: starts xQ,", "xQ,0z\n", "", "leading netString character not a digit"},
		{"out_of_range_type", "a type above z", "0Q,0{,0z\n", "", "Out-of-range netString type"},
		{"truncated_packet", "EOF inside a packet", "0Q,3b100,17csystem.echo.0.raw,4l40", "", "unexpected EOF in packet"},
		{"truncated_payload", "EOF inside a payload", "0Q,3b100,17csystem.echo.0.raw,100kabc", "", "unexpected EOF in packet"},
		{"bad_service_key", "a request key that fails the client rules", "0Q,3b100,9cnot.a.key,0z\n", "", "Invalid Service Key"},
		{"wildcard_key_in_request", "an empty function is for configuration names only", "0Q,3b100,13csystem..0.raw,0z\n", "", "Invalid Service Key"},
		{"missing_service_key", "a request without a key", "0Q,3b100,0z\n", "", "Invalid Service Key"},
		{"third_Q_duplicate", "a second Q is ignored, a third is a duplicate", "0Q,0Q,0Q,22cconformance.echo.0.raw,0z\n", "", "Duplicate netString type of 'Q'"},
		{"first_type_not_packet", "a netstring type first: named ?unknownPT? (the original names packet types only)", "3b100,22cconformance.echo.0.raw,0z\n", "",
			"Unexpected netString type. Wanted: requestPT, but got: 'b' (?unknownPT?)"},
		{"service_key_five_tokens", "the key error text of the original", "0Q,3b100,24cconformance.echo.0.raw.x,0z\n", "",
			"Invalid Service Key: more than four dot-separated tokens"},
		{"service_key_three_tokens", "the key error text of the original", "0Q,3b100,18cconformance.echo.0,0z\n", "",
			"Invalid Service Key: need four dot-separated tokens"},
		{"service_key_version_leading_zero", "the original checks a version's leading zero before its digits", "0Q,3b100,24cconformance.echo.0x1.raw,0z\n", "",
			"Invalid Service Key: version has ambiguous leading zero"},
		{"extra_after_z", "a good packet then bytes that are no packet", good + "junk", string(respond([]byte(good))), "leading netString character not a digit"},
	}
	// protocol.md §8.3: a length prefix above maximum-request-size (64 MiB
	// without a stats segment) is refused with fault 3 before its payload is
	// read; stand-alone input cannot go on after it, so the loop ends.
	tooLarge := string(protocol.AppendResponse(nil, &protocol.Response{ID: 100, ClientName: "plSend:26446",
		ServiceName: vectors.ServiceName, FaultCode: 3,
		FaultText: "request data of 99999999 bytes exceeds maximum-request-size 67108864"}))
	malformed = append(malformed, struct{ name, desc, in, out, stderr string }{
		"request_too_large", "a data length prefix above the default maximum-request-size: fault 3 before the payload",
		"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,99999999k", tooLarge, "exceeds maximum-request-size"})
	// Found by the differential test: the limit applies once the prefix is
	// complete (a non-digit follows), before the type byte is checked.
	malformed = append(malformed, struct{ name, desc, in, out, stderr string }{
		"request_too_large_bad_type", "a length prefix above maximum-request-size followed by a bad type byte: fault 3 first",
		"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,99999999\x00", tooLarge, "exceeds maximum-request-size"},
		struct{ name, desc, in, out, stderr string }{
			"eof_in_large_prefix", "input that ends inside a length prefix already above maximum-request-size is a truncated packet",
			"0Q,3b100,12aplSend:26446,99999999", "", "unexpected EOF in packet"})
	for _, m := range malformed {
		c := vectors.Case{Name: m.name, Description: m.desc, Expect: vectors.ExpectError, Stderr: m.stderr}
		cases = append(cases, withFiles(c, []byte(m.in), []byte(m.out), files))
	}
	return cases, files
}

func withFiles(c vectors.Case, in, out []byte, files map[string][]byte) vectors.Case {
	c.In, c.Out = c.Name+".in", c.Name+".out"
	files[c.In], files[c.Out] = in, out
	return c
}
