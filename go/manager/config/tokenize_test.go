package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenizeExec(t *testing.T) {
	tests := []struct {
		line string
		want []string
		err  string
	}{
		{"", nil, ""},
		{" \t ", nil, ""},
		{"/bin/echo", []string{"/bin/echo"}, ""},
		{"  /bin/echo   a\tb  ", []string{"/bin/echo", "a", "b"}, ""},
		{`/bin/echo 'a b' "c d"`, []string{"/bin/echo", "a b", "c d"}, ""},
		{`x a"b c"d`, []string{"x", "ab cd"}, ""},
		{`x "" ''`, []string{"x", "", ""}, ""},
		{`x "it's" 'say "hi"'`, []string{"x", "it's", `say "hi"`}, ""},
		{`x 'a\b' "c\"`, []string{"x", `a\b`, `c\`}, ""}, // nothing escapes inside quotes
		{`x a\ b`, []string{"x", "a b"}, ""},
		{`x \'a\' \"b\"`, []string{"x", "'a'", `"b"`}, ""},
		{`x \\ a\\b`, []string{"x", `\`, `a\b`}, ""},
		{`x \a\b`, []string{"x", "ab"}, ""},
		{`x $HOME *.c >out`, []string{"x", "$HOME", "*.c", ">out"}, ""},
		{"x\v\fy\rz", []string{"x", "y", "z"}, ""},
		{`x 'a b`, nil, "Unterminated quote at column 6"},
		{`x "a b`, nil, "Unterminated quote at column 6"},
		{`x 'a"`, nil, "Unterminated quote at column 5"},
		{`x a\`, nil, "Unterminated escape character at column 4"},
		{strings.Repeat("a ", 100), repeat("a", 100), ""},
		{strings.Repeat("a ", 100) + "b", nil, "more than 100 arguments at column 201"},
		{strings.Repeat("a ", 100) + `""`, nil, "more than 100 arguments at column 201"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := TokenizeExec(tt.line)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
