package fault

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessage(t *testing.T) {
	tests := []struct {
		fault *Fault
		pre   string
		long  bool
		want  string
	}{
		{New(ServiceNotFound, "nosuch.thing.0.raw"), "", true,
			"pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'"},
		{New(ServiceNotFound, "nosuch.thing.0.raw"), "plSend", false,
			"plSend pluton::Fault=-30 'nosuch.thing.0.raw'"},
		{New(111, "sleep time negative"), "", true, "pluton::Fault=111 'sleep time negative'"},
		{Wrap(ConnectFailed, "", syscall.ECONNREFUSED), "", true,
			"pluton::Fault=-16 (connectFailed:connect() failed) errno=111:connection refused"},
		{Wrap(RequestDecodeFailed, "bad packet", errors.New("not an errno")), "", false,
			"pluton::Fault=-57 'bad packet'"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.fault.Message(tt.pre, tt.long))
		})
	}
}

func TestErrorsAs(t *testing.T) {
	err := fmt.Errorf("calling: %w", Wrap(ConnectFailed, "x", syscall.ENOENT))
	var f *Fault
	require.True(t, errors.As(err, &f))
	assert.Equal(t, ConnectFailed, f.Code)
	assert.True(t, errors.Is(err, syscall.ENOENT))
	assert.True(t, f.Code.IsSystem())
	assert.False(t, Code(111).IsSystem())
	assert.Equal(t, "", Code(111).Name())
	assert.Equal(t, "-19:service timeout (serviceTimeout)", New(ServiceTimeout, "service timeout").Error())
	assert.True(t, New(ServiceTimeout, "").Timeout())
	assert.False(t, New(ServiceException, "").Timeout())
}

func TestProjectCodes(t *testing.T) {
	tests := []struct {
		code Code
		num  int
		name string
	}{
		{RequestTooLarge, 3, "requestTooLarge"},
		{ServiceException, 6, "serviceException"},
		{ServiceUnavailable, 7, "serviceUnavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.num, int(tt.code))
			assert.Equal(t, tt.name, tt.code.Name())
			assert.NotEmpty(t, tt.code.English())
			assert.False(t, tt.code.IsSystem())
		})
	}
	assert.Equal(t, "pluton::Fault=6 (serviceException:the service's own code failed) 'panic: boom'",
		New(ServiceException, "panic: boom").Message("", true))
}
