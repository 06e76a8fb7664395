package servicekey

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		key    string
		reason string // empty: valid
	}{
		{"system.echo.0.raw", ""},
		{"AddressBook.AddEntry.12.JSON", ""},
		{"a.b.999999.NETSTRING", ""},
		{strings.Repeat("a", 32) + "." + strings.Repeat("f", 32) + ".1.XML", ""},
		{"system.echo.0", "need four dot-separated tokens"},
		{"system", "need four dot-separated tokens"},
		{"system.echo.0.raw.", "more than four dot-separated tokens"},
		{".echo.0.raw", "Application Name length is not in the range 1-32 characters"},
		{strings.Repeat("a", 33) + ".echo.0.raw", "Application Name length is not in the range 1-32 characters"},
		{"system..0.raw", "Service Function is zero length"},
		{"system." + strings.Repeat("f", 33) + ".0.raw", "Service Function length is greater than 32 characters"},
		{"system.echo..raw", "Service Version length is not in the range 1-6 characters"},
		{"system.echo.1234567.raw", "Service Version length is not in the range 1-6 characters"},
		{"system.echo.-1.raw", "version is not a positive integer"},
		{"system.echo.1a.raw", "version is not a positive integer"},
		{"system.echo.034.raw", "version has ambiguous leading zero"},
		{"system.echo.00.raw", "version has ambiguous leading zero"},
		{"system.echo.0x1.raw", "version has ambiguous leading zero"}, // as the original: the zero first
		{"system.echo.0.", "serialization is zero length"},
		{"system.echo.0.RAW", "serialization type is unrecognized"},
		{"system.echo.0.json", "serialization type is unrecognized"},
		{"sys/tem.echo.0.raw", "contains '/'"},
		{"system.ec\x00ho.0.raw", "contains a NUL byte"},
		{"../x.echo.0.raw", "more than four dot-separated tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, err := Parse(tt.key)
			if tt.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.key, k.String())
				return
			}
			var kerr *Error
			require.True(t, errors.As(err, &kerr), "error %v", err)
			assert.Equal(t, tt.reason, kerr.Reason)
			assert.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestParts(t *testing.T) {
	k, err := Parse("AddressBook.AddEntry.12.JSON")
	require.NoError(t, err)
	assert.Equal(t, "AddressBook", k.Application)
	assert.Equal(t, "AddEntry", k.Function)
	assert.Equal(t, uint32(12), k.Version)
	assert.Equal(t, JSON, k.Serialization)
	assert.Equal(t, "JSON", k.Serialization.String())
	assert.Equal(t, "AddressBook.JSON.12.AddEntry", k.SearchKey())
	w := k.Wildcard()
	assert.True(t, w.IsWildcard())
	assert.Equal(t, "AddressBook..12.JSON", w.String())
	assert.Equal(t, "AddressBook.JSON.12", w.SearchKey())
}

func TestConfigNameWildcard(t *testing.T) {
	k, err := ParseConfigName("AddressBook..0.JSON")
	require.NoError(t, err)
	assert.True(t, k.IsWildcard())
	_, err = Parse("AddressBook..0.JSON")
	require.Error(t, err)
	_, err = ParseConfigName("badtype.param.0.yoo")
	require.Error(t, err)
}
