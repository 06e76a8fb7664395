package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/yookoala/gofast"
	"golang.org/x/sys/unix"
)

// fcgiParams are the FastCGI parameters of an echo request to script.
func fcgiParams(script string, size int) map[string]string {
	return map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE":   "pluton-bench",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_NAME":       "localhost",
		"SERVER_PORT":       "80",
		"REMOTE_ADDR":       "127.0.0.1",
		"REQUEST_METHOD":    "POST",
		"REQUEST_URI":       "/echo.php",
		"QUERY_STRING":      "",
		"SCRIPT_FILENAME":   script,
		"SCRIPT_NAME":       "/echo.php",
		"DOCUMENT_ROOT":     "/",
		"CONTENT_TYPE":      "application/octet-stream",
		"CONTENT_LENGTH":    strconv.Itoa(size),
	}
}

// gofastDriver drives PHP-FPM with the gofast FastCGI client library, one
// connection per request.
type gofastDriver struct{}

func (gofastDriver) name() string { return "gofast (FastCGI)" }

func (gofastDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	data := payload(size)
	factory := gofast.SimpleClientFactory(gofast.SimpleConnFactory("unix", t.socket))
	return goLoop(conc, dur, func() func() error {
		return func() error {
			c, err := factory()
			if err != nil {
				return err
			}
			defer c.Close()
			req := gofast.NewRequest(nil)
			req.Params = fcgiParams(t.fcgiScript, size)
			req.Stdin = io.NopCloser(bytes.NewReader(data))
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			rec := httptest.NewRecorder()
			var stderr bytes.Buffer
			if err := resp.WriteTo(rec, &stderr); err != nil {
				return err
			}
			if rec.Code != http.StatusOK || rec.Body.Len() != size {
				return fmt.Errorf("FastCGI response %d with %d bytes, want 200 with %d (%s)", rec.Code, rec.Body.Len(), size, stderr.String())
			}
			return nil
		}
	}), nil
}

// fcgiRawDriver is a minimal FastCGI client written here (one write for the
// whole request, records read straight from the socket), so that PHP-FPM is
// also measured with the cheapest client possible.
type fcgiRawDriver struct{}

func (fcgiRawDriver) name() string { return "raw FastCGI" }

// FastCGI record types.
const (
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParamsType   = 4
	fcgiStdin        = 5
	fcgiStdout       = 6
	fcgiStderr       = 7
)

func appendRecord(dst []byte, typ byte, content []byte) []byte {
	for {
		n := min(len(content), 65535)
		dst = append(dst, 1, typ, 0, 1, byte(n>>8), byte(n), 0, 0)
		dst = append(dst, content[:n]...)
		content = content[n:]
		if len(content) == 0 {
			return dst
		}
	}
}

func appendPair(dst []byte, k, v string) []byte {
	for _, n := range []int{len(k), len(v)} {
		if n < 128 {
			dst = append(dst, byte(n))
		} else {
			dst = binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
		}
	}
	return append(append(dst, k...), v...)
}

// fcgiRequest encodes a whole FastCGI request (id 1, no keep-alive).
func fcgiRequest(script string, data []byte) []byte {
	var params []byte
	for k, v := range fcgiParams(script, len(data)) {
		params = appendPair(params, k, v)
	}
	b := appendRecord(nil, fcgiBeginRequest, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	b = appendRecord(b, fcgiParamsType, params)
	b = appendRecord(b, fcgiParamsType, nil)
	if len(data) > 0 {
		b = appendRecord(b, fcgiStdin, data)
	}
	return appendRecord(b, fcgiStdin, nil)
}

func (fcgiRawDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	req := fcgiRequest(t.fcgiScript, payload(size))
	return goLoop(conc, dur, func() func() error {
		sa := &unix.SockaddrUnix{Name: t.socket}
		buf := make([]byte, 64<<10)
		var stdout []byte
		return func() error {
			fd, err := dialBlocking(sa)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := writeAll(fd, [][]byte{req}); err != nil {
				return err
			}
			stdout = stdout[:0]
			have := 0
			for {
				// Parse the complete records in buf[:have].
				off := 0
				for have-off >= 8 {
					h := buf[off : off+8]
					clen := int(binary.BigEndian.Uint16(h[4:6]))
					total := 8 + clen + int(h[6])
					if have-off < total {
						break
					}
					switch h[1] {
					case fcgiStdout:
						stdout = append(stdout, buf[off+8:off+8+clen]...)
					case fcgiStderr:
					case fcgiEndRequest:
						return checkHTTPBody(stdout, size, "\r\n\r\n")
					}
					off += total
				}
				copy(buf, buf[off:have])
				have -= off
				n, err := unix.Read(fd, buf[have:])
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					return err
				}
				if n == 0 {
					return errors.New("FastCGI: EOF before END_REQUEST")
				}
				have += n
			}
		}
	}), nil
}

// checkHTTPBody checks that the body after the header block is size bytes
// and that no status other than 200 was given.
func checkHTTPBody(out []byte, size int, sep string) error {
	i := bytes.Index(out, []byte(sep))
	if i < 0 {
		return fmt.Errorf("no header block in %q", clip(out))
	}
	head := out[:i]
	if bytes.HasPrefix(head, []byte("HTTP/")) && !bytes.HasPrefix(head[bytes.IndexByte(head, ' ')+1:], []byte("200")) {
		return fmt.Errorf("HTTP status: %q", clip(head))
	}
	if bytes.Contains(head, []byte("Status:")) && !bytes.Contains(head, []byte("Status: 200")) {
		return fmt.Errorf("FastCGI status: %q", clip(head))
	}
	if body := len(out) - i - len(sep); body != size {
		return fmt.Errorf("body of %d bytes, want %d", body, size)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// dialBlocking connects a blocking Unix socket, waiting out a full backlog.
func dialBlocking(sa *unix.SockaddrUnix) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, sa)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		break
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// httpDriver drives gunicorn with Go's net/http client over the Unix socket.
type httpDriver struct{}

func (httpDriver) name() string { return "net/http" }

func (httpDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	data := payload(size)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", t.socket)
		},
		DisableKeepAlives: true, // gunicorn's sync workers close every connection
		MaxConnsPerHost:   0,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return goLoop(conc, dur, func() func() error {
		return func() error {
			resp, err := hc.Post("http://localhost/echo", "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || len(body) != size {
				return fmt.Errorf("HTTP %d with %d bytes, want 200 with %d", resp.StatusCode, len(body), size)
			}
			return nil
		}
	}), nil
}

// httpRawDriver is a minimal HTTP/1.1 client written here (one write, read
// to EOF), so that gunicorn is also measured with the cheapest client.
type httpRawDriver struct{}

func (httpRawDriver) name() string { return "raw HTTP" }

func (httpRawDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	req := fmt.Appendf(nil, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size)
	req = append(req, payload(size)...)
	return goLoop(conc, dur, func() func() error {
		sa := &unix.SockaddrUnix{Name: t.socket}
		buf := make([]byte, 0, 64<<10)
		return func() error {
			fd, err := dialBlocking(sa)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := writeAll(fd, [][]byte{req}); err != nil {
				return err
			}
			buf = buf[:0]
			for {
				if len(buf) == cap(buf) {
					buf = append(buf, 0)[:len(buf)]
				}
				n, err := unix.Read(fd, buf[len(buf):cap(buf)])
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					return err
				}
				if n == 0 {
					return checkHTTPBody(buf, size, "\r\n\r\n")
				}
				buf = buf[:len(buf)+n]
			}
		}
	}), nil
}
