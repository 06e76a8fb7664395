package service

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/stats"
	"github.com/pluton-go/pluton/go/testbin"
)

func TestRecorderIndex(t *testing.T) {
	tests := []struct {
		cycle uint32
		want  []uint32
	}{
		{0, []uint32{1, 2, 3, 4, 5}},
		{1, []uint32{0, 0, 0, 0, 0}},
		{3, []uint32{1, 2, 0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.cycle), func(t *testing.T) {
			r := newRecorder("/p/", tt.cycle, 42)
			for i, w := range tt.want {
				assert.Equal(t, w, r.index(uint64(i+1)))
			}
		})
	}
	r := newRecorder("/var/rec/echo.", 0, 42)
	assert.Equal(t, "/var/rec/echo.in.42.00001", r.path("in", 1))
	assert.Equal(t, "/var/rec/echo.out.42.123456", r.path("out", 123456), "more digits past 99999")
}

// recorded lists the recorder files in dir by name.
func recorded(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
		info, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o640), info.Mode().Perm(), e.Name())
	}
	return files
}

func TestRecorderManagerMode(t *testing.T) {
	old := syscall.Umask(0o077) // the documented mode does not depend on the umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RecorderPrefix: dir + "/echo.", RecorderCycle: 3}, 0, 0)
	svc := f.service(t, nil)
	done := runLoop(svc)
	var sent [][]byte
	for i := range 5 {
		r := echoReq("echo", "data"+strconv.Itoa(i))
		r.ID = int64(i + 1)
		if i == 4 {
			r.NoWait = true
		}
		sent = append(sent, protocol.AppendRequest(nil, r))
		c := dial(t, f.sock)
		_, err := c.conn.Write(sent[i])
		require.NoError(t, err)
		if !r.NoWait {
			c.recv(t)
		}
	}
	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
	pid := os.Getpid()
	files := recorded(t, dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	p := strconv.Itoa(pid)
	assert.Equal(t, []string{"echo.in." + p + ".00000", "echo.in." + p + ".00001", "echo.in." + p + ".00002",
		"echo.out." + p + ".00000", "echo.out." + p + ".00001", "echo.out." + p + ".00002"}, names)
	// Requests 4 and 5 overwrote indexes 1 and 2; request 3 is index 0.
	assert.Equal(t, sent[3], files["echo.in."+p+".00001"], "the packet exactly as read")
	assert.Equal(t, sent[4], files["echo.in."+p+".00002"])
	assert.Equal(t, sent[2], files["echo.in."+p+".00000"])
	want := echoResponse(5, "test:1", "data4")
	assert.Equal(t, want, string(files["echo.out."+p+".00002"]), "noWait: the response produced although none was sent")
	assert.Equal(t, echoResponse(3, "test:1", "data2"), string(files["echo.out."+p+".00000"]))
	assert.Equal(t, uint32(2), f.slotStats(t).RecorderIndex, "the slot names the last request's files")
}

func TestRecorderFailureReportedOnce(t *testing.T) {
	dir := t.TempDir()
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RecorderPrefix: dir + "/missing/echo."}, 0, 0)
	svc := f.service(t, nil)
	require.NotNil(t, svc.rec)
	var stderr bytes.Buffer // written by the loop, read once it has ended
	svc.rec.errOut = &stderr
	done := runLoop(svc)
	for range 3 {
		assert.Equal(t, "x", string(call(t, f.sock, echoReq("echo", "x")).Data), "requests never fail")
	}
	stopLoop(t, f, done)
	require.NoError(t, svc.Close())
	out := stderr.String()
	assert.Equal(t, 1, strings.Count(out, "recorder stopped"), out)
	assert.Contains(t, out, dir+"/missing/echo.in.")
	assert.Equal(t, uint32(stats.NotRecording), f.slotStats(t).RecorderIndex)
}

// TestRecorderReplay: an echoService instance under a (test) manager
// records; each in-file replayed by fd redirection, "echoService 3<in
// 4>out", gives the recorded out-file, the service name ('s') aside.
func TestRecorderReplay(t *testing.T) {
	dir := t.TempDir()
	f := newManagerFixtureHeader(t, stats.HeaderConfig{Slots: 1, RecorderPrefix: dir + "/rec."}, 0, 0)
	in := startInstance(t, f)
	reqs := []*protocol.Request{echoReq("echo", "Hello"), echoReq("echo", strings.Repeat("big", 30000))}
	neg := echoReq("other", "x")
	neg.Context = protocol.AppendContext(nil, "echo.sleepMS", "-1")
	reqs = append(reqs, neg)
	for _, r := range reqs {
		call(t, f.sock, r)
	}
	require.NoError(t, in.cmd.Process.Signal(syscall.SIGTERM))
	code, _ := in.exit(t)
	require.Equal(t, 0, code, in.stderr.String())

	files := recorded(t, dir)
	require.Len(t, files, 2*len(reqs))
	sName := regexp.MustCompile(`[0-9]+secho:[0-9]+/0,`)
	for i := range reqs {
		base := fmt.Sprintf("%d.%05d", in.cmd.Process.Pid, i+1)
		inFile := filepath.Join(dir, "rec.in."+base)
		cmd := exec.Command(testbin.Path(t, "echoService"))
		fin, err := os.Open(inFile)
		require.NoError(t, err)
		var out bytes.Buffer
		pr, pw, err := os.Pipe()
		require.NoError(t, err)
		cmd.ExtraFiles = []*os.File{fin, pw}
		require.NoError(t, cmd.Start())
		pw.Close()
		_, _ = out.ReadFrom(pr)
		require.NoError(t, cmd.Wait())
		fin.Close()
		recordedOut := files["rec.out."+base]
		require.NotEmpty(t, recordedOut)
		assert.Equal(t, sName.ReplaceAllString(string(recordedOut), ""), sName.ReplaceAllString(out.String(), ""), base)
	}
}
