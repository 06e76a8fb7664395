package logging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTail(t *testing.T) {
	var empty *Tail
	assert.Nil(t, empty.Lines())
	assert.Equal(t, "", empty.Last())

	tests := []struct {
		name      string
		lines     int
		length    int
		wantLines int
	}{
		{"few short lines", 5, 10, 5},
		{"many short lines: the last TailMaxLines", 100, 10, TailMaxLines},
		{"long lines: cut, and at least TailMinLines kept", 100, 5000, TailMinLines},
		{"medium lines: bounded by bytes", 100, 300, TailBytes / 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tail Tail
			for i := range tt.lines {
				tail.Add(fmt.Sprintf("%04d %s", i, strings.Repeat("x", max(0, tt.length-5))))
			}
			got := tail.Lines()
			require.Len(t, got, tt.wantLines)
			size := 0
			for _, l := range got {
				assert.LessOrEqual(t, len(l), TailLineBytes)
				size += len(l)
			}
			assert.LessOrEqual(t, size, TailBytes)
			assert.True(t, strings.HasPrefix(got[len(got)-1], fmt.Sprintf("%04d ", tt.lines-1)), "the newest line is last")
			assert.Equal(t, got[len(got)-1], tail.Last())
			if tt.length > TailLineBytes {
				assert.True(t, strings.HasSuffix(got[0], "..."))
			}
		})
	}
}

func TestTailCutsOnRuneBoundary(t *testing.T) {
	var tail Tail
	tail.Add(strings.Repeat("é", TailLineBytes)) // 2 bytes each
	l := tail.Last()
	assert.LessOrEqual(t, len(l), TailLineBytes)
	assert.True(t, strings.HasSuffix(l, "é..."), l[len(l)-10:])
}
