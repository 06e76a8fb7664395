package pool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseForkReply(t *testing.T) {
	tests := []struct {
		name, reply string
		pid         int
		err         string
	}{
		{"pid", "P 1234", 1234, ""},
		{"error", "E fork: Resource temporarily unavailable", 0, "fork failed: fork: Resource temporarily unavailable"},
		{"not a number", "P x", 0, `bad fork answer "P x"`},
		{"init", "P 1", 0, `bad fork answer "P 1"`},
		{"negative", "P -5", 0, `bad fork answer "P -5"`},
		{"empty", "", 0, `bad fork answer ""`},
		{"unknown", "R", 0, `bad fork answer "R"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := parseForkReply(tt.reply)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.pid, pid)
		})
	}
}

// fakeTemplate is a program that, started as a template (plutonPreload
// set), says it is ready and then answers fork requests as mode says:
// "silent" never answers, "reply:<text>" answers text (_ for a space).
// Started as an instance it just sleeps.
const fakeTemplate = `import os, socket, sys, time
fd = os.environ.get("plutonPreload")
if fd is None:
    time.sleep(60)
    sys.exit(0)
s = socket.socket(fileno=int(fd))
s.send(b"R")
mode = sys.argv[1]
while True:
    msg, fds, _, _ = socket.recv_fds(s, 64, 4)
    if not msg:
        sys.exit(0)
    for f in fds:
        os.close(f)
    if mode.startswith("reply:"):
        s.send(mode[6:].replace("_", " ").encode())
`

// TestTemplateMisbehaves: a template that does not answer a fork request
// within forkTimeout, or answers nonsense or an error: the instance is
// exec'd instead, with a warning saying why; a silent template is stopped.
func TestTemplateMisbehaves(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	script := filepath.Join(t.TempDir(), "fake.py")
	require.NoError(t, os.WriteFile(script, []byte(fakeTemplate), 0o644))
	tests := []struct {
		name, mode, warning string
		stopped             bool
	}{
		{"silent", "silent", "did not answer a fork request within 2s; exec'ing the instance", true},
		{"nonsense", "reply:P_1", `bad fork answer "P 1"; exec'ing the instance`, false},
		{"error", "reply:E_out_of_memory", "fork failed: out of memory; exec'ing the instance", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "exec "+py+" "+script+" "+tt.mode+"\npreload true\nminimum-processes 1\n")
			h.s.ensureTemplate(time.Now())
			tmpl := h.s.tmpl
			require.NotNil(t, tmpl)
			t.Cleanup(func() {
				h.s.stopTemplate()
				select {
				case <-tmpl.proc.Done():
				case <-time.After(10 * time.Second):
				}
			})
			require.True(t, h.pumpUntil(func() bool { return tmpl.ready }), "template ready")
			require.NoError(t, h.s.start(time.Now()))
			h.waitLog(tt.warning)
			ins := h.instances()
			require.Len(t, ins, 1)
			assert.Equal(t, "exec", ins[0].start)
			assert.Equal(t, tt.stopped, h.s.tmpl == nil, "a silent template is stopped")
		})
	}
}
