package natsrpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/servicekey"
)

func TestSubject(t *testing.T) {
	tests := []struct{ key, want string }{
		{"system.echo.0.raw", "pluton.svc.system.echo.0.raw"},
		{"AddressBook..0.JSON", "pluton.svc.AddressBook.~.0.JSON"},
		{"my_app.get-x.12.raw", "pluton.svc.my_app.get-x.12.raw"},
		{"a b.f*n.1.raw", "pluton.svc.a%20b.f%2An.1.raw"},
		{"a>.%.1.raw", "pluton.svc.a%3E.%25.1.raw"},
		{"app.~.1.raw", "pluton.svc.app.%7E.1.raw"}, // a Function "~" is not the wildcard
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, err := servicekey.ParseConfigName(tt.key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, Subject(k))
		})
	}
}

func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		code    fault.Code
		text    string
	}{
		{name: "data", body: "ok"},
		{name: "service fault", headers: map[string]string{HeaderErrorCode: "111", HeaderError: "one line"}, body: "multi\nline", code: 111, text: "multi\nline"},
		{name: "fault without body", headers: map[string]string{HeaderErrorCode: "-19", HeaderError: "service timeout"}, code: -19, text: "service timeout"},
		{name: "bad code", headers: map[string]string{HeaderErrorCode: "x"}, code: fault.ResponsePacketFormatError, text: "bad Nats-Service-Error-Code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := nats.NewMsg("x")
			m.Data = []byte(tt.body)
			m.Header.Set(HeaderService, "svc:1/0")
			for k, v := range tt.headers {
				m.Header.Set(k, v)
			}
			resp, err := decodeReply(m)
			assert.Equal(t, "svc:1/0", resp.Service)
			if tt.code == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.body, string(resp.Data))
				return
			}
			var f *fault.Fault
			require.True(t, errors.As(err, &f))
			assert.Equal(t, tt.code, f.Code)
			assert.Contains(t, f.Text, tt.text)
		})
	}
}

// TestCallerNoServer: with no NATS server a call fails at once as not
// found, naming the URL; a bad key and a passed deadline are refused.
func TestCallerNoServer(t *testing.T) {
	c := NewCaller("nats://127.0.0.1:1", "t")
	defer c.Close()
	start := time.Now()
	_, err := c.Call(context.Background(), Request{Key: "system.echo.0.raw", Deadline: time.Now().Add(5 * time.Second)})
	var f *fault.Fault
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.ServiceNotFound, f.Code)
	assert.Contains(t, f.Text, "nats://127.0.0.1:1")
	assert.Less(t, time.Since(start), 4*time.Second)

	_, err = c.Call(context.Background(), Request{Key: "bad key", Deadline: time.Now().Add(time.Second)})
	require.True(t, errors.As(err, &f))
	assert.Equal(t, fault.ServiceKeyBad, f.Code)
}

func TestMargin(t *testing.T) {
	assert.Equal(t, 100*time.Millisecond, Margin(4*time.Second))
	assert.Equal(t, 50*time.Millisecond, Margin(500*time.Millisecond))
}
