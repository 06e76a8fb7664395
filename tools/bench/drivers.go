package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluton-go/pluton/go/client"
	"github.com/pluton-go/pluton/go/protocol"
)

// A target is where a driver sends its requests.
type target struct {
	// dir is the rendezvous directory holding <key>.socket (Pluton
	// services and floors alike); socket is the socket path itself.
	dir, key, socket string
	// fcgiScript is the script FastCGI requests name (PHP-FPM only).
	fcgiScript string
}

// A result is what one trial of a driver measured.
type result struct {
	n, errs  int
	firstErr error
	elapsed  time.Duration
	lat      []time.Duration
}

// A driver is a client that runs exchanges against a target.
type driver interface {
	name() string
	// run keeps conc exchanges of size bytes in flight for dur and returns
	// what it measured.
	run(t *target, size, conc int, dur time.Duration) (result, error)
}

// payload returns a request body of n bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// warmupPerWorker is the number of untimed exchanges each worker makes
// before a trial.
const warmupPerWorker = 3

// goLoop runs conc goroutines; each makes one exchange per call of the
// function newWorker returned for it, untimed warmupPerWorker times and then
// until dur has passed.
func goLoop(conc int, dur time.Duration, newWorker func() func() error) result {
	fns := make([]func() error, conc)
	for i := range fns {
		fns[i] = newWorker()
	}
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < warmupPerWorker; i++ {
				_ = fn()
			}
		}()
	}
	wg.Wait()

	type part struct {
		lat      []time.Duration
		errs     int
		firstErr error
	}
	parts := make([]part, conc)
	start := time.Now()
	deadline := start.Add(dur)
	for w, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.lat = make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				if err := fn(); err != nil {
					p.errs++
					if p.firstErr == nil {
						p.firstErr = err
					}
					continue
				}
				p.lat = append(p.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res := result{elapsed: time.Since(start)}
	for _, p := range parts {
		res.lat = append(res.lat, p.lat...)
		res.errs += p.errs
		if res.firstErr == nil {
			res.firstErr = p.firstErr
		}
	}
	res.n = len(res.lat)
	return res
}

// libDriver is the project's Go client library (go/client).
type libDriver struct {
	mu      sync.Mutex
	clients map[string]*client.Client
}

func (d *libDriver) name() string { return "Go client" }

func (d *libDriver) client(dir string) (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[dir]; ok {
		return c, nil
	}
	c, err := client.New("bench", client.WithLookup(dir))
	if err != nil {
		return nil, err
	}
	if d.clients == nil {
		d.clients = map[string]*client.Client{}
	}
	d.clients[dir] = c
	return c, nil
}

func (d *libDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	c, err := d.client(t.dir)
	if err != nil {
		return result{}, err
	}
	data := payload(size)
	ctx := context.Background()
	return goLoop(conc, dur, func() func() error {
		return func() error {
			resp, err := c.Call(ctx, t.key, data)
			if err != nil {
				return err
			}
			if len(resp.Data) != size {
				return fmt.Errorf("response of %d bytes, want %d", len(resp.Data), size)
			}
			return nil
		}
	}), nil
}

// call makes one exchange with the Go client library.
func (d *libDriver) call(t *target, data []byte, opts ...client.RequestOption) error {
	c, err := d.client(t.dir)
	if err != nil {
		return err
	}
	_, err = c.Call(context.Background(), t.key, data, opts...)
	return err
}

// rawDriver is the Go floor client: blocking system calls, one connection
// per exchange (connect, writev, read, close), the project's protocol
// encoder and parser, nothing else.
type rawDriver struct{}

func (rawDriver) name() string { return "Go raw" }

func (rawDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	data := payload(size)
	return goLoop(conc, dur, func() func() error {
		rx := newRawExchanger(t.socket, t.key)
		return func() error { return rx.exchange(data) }
	}), nil
}

// rawExchanger holds one worker's buffers for raw exchanges.
type rawExchanger struct {
	sa     unix.SockaddrUnix
	key    string
	name   string
	id     int64
	head   []byte
	rbuf   []byte
	parser *protocol.Parser
	resp   protocol.Response
}

func newRawExchanger(socket, key string) *rawExchanger {
	return &rawExchanger{
		sa: unix.SockaddrUnix{Name: socket}, key: key,
		name: "rawbench:" + strconv.Itoa(unix.Getpid()), id: 100,
		head: make([]byte, 0, 256), rbuf: make([]byte, 16<<10),
		parser: protocol.NewResponseParser(),
	}
}

func (x *rawExchanger) exchange(data []byte) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		err = unix.Connect(fd, &x.sa)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN { // the listen backlog is full
			time.Sleep(100 * time.Microsecond)
			continue
		}
		break
	}
	if err != nil {
		return err
	}
	x.id++
	req := protocol.Request{ID: x.id, ClientName: x.name, ServiceKey: x.key, TimeoutMS: 4000, Data: data}
	var trailer string
	x.head, trailer = protocol.AppendRequestHead(x.head[:0], &req)
	if err := writeAll(fd, [][]byte{x.head, data, []byte(trailer)}); err != nil {
		return err
	}
	p := x.parser
	p.Reset()
	for {
		var n int
		if dst := p.Direct(); dst != nil {
			n, err = unix.Read(fd, dst)
			if n > 0 {
				p.Advance(n)
			}
		} else {
			n, err = unix.Read(fd, x.rbuf)
			if n > 0 {
				_, done, perr := p.Feed(x.rbuf[:n])
				if perr != nil {
					return perr
				}
				if done {
					p.Response(&x.resp)
					if x.resp.ID != x.id || len(x.resp.Data) != len(data) {
						return fmt.Errorf("bad response: id %d (want %d), %d bytes (want %d)",
							x.resp.ID, x.id, len(x.resp.Data), len(data))
					}
					return nil
				}
			}
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("EOF before the end of the response")
		}
	}
}

// writeAll writes every buffer with writev, continuing after short writes.
func writeAll(fd int, iov [][]byte) error {
	for len(iov) > 0 && len(iov[0]) == 0 {
		iov = iov[1:]
	}
	for len(iov) > 0 {
		n, err := unix.Writev(fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for n > 0 && len(iov) > 0 {
			if n < len(iov[0]) {
				iov[0] = iov[0][n:]
				n = 0
			} else {
				n -= len(iov[0])
				iov = iov[1:]
			}
		}
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
	}
	return nil
}

// cDriver is the raw C client (floors/c/client.c), one process per trial.
type cDriver struct{ bin string }

func (cDriver) name() string { return "C client" }

func (d cDriver) run(t *target, size, conc int, dur time.Duration) (result, error) {
	limit := int(dur.Seconds()*200_000) + 1000
	// Warm up like the Go drivers: a few exchanges per connection slot.
	warm := exec.Command(d.bin, t.socket, strconv.Itoa(size), strconv.Itoa(conc*warmupPerWorker), strconv.Itoa(conc), "2000", t.key)
	_ = warm.Run()
	cmd := exec.Command(d.bin, t.socket, strconv.Itoa(size), strconv.Itoa(limit), strconv.Itoa(conc),
		strconv.Itoa(int(dur.Milliseconds())), t.key)
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("c client: %w", err)
	}
	return parseCClient(out)
}

// parseCClient parses "ok N errors E elapsed_ns T" and the latencies that follow.
func parseCClient(out []byte) (result, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return result{}, errors.New("c client: no output")
	}
	f := strings.Fields(sc.Text())
	if len(f) != 6 || f[0] != "ok" || f[2] != "errors" || f[4] != "elapsed_ns" {
		return result{}, fmt.Errorf("c client: bad summary %q", sc.Text())
	}
	n, _ := strconv.Atoi(f[1])
	errs, _ := strconv.Atoi(f[3])
	el, _ := strconv.ParseInt(f[5], 10, 64)
	res := result{n: n, errs: errs, elapsed: time.Duration(el), lat: make([]time.Duration, 0, n)}
	for sc.Scan() {
		v, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			return result{}, fmt.Errorf("c client: bad latency %q", sc.Text())
		}
		res.lat = append(res.lat, time.Duration(v))
	}
	if len(res.lat) != n {
		return result{}, fmt.Errorf("c client: %d latencies for %d exchanges", len(res.lat), n)
	}
	if errs > 0 {
		res.firstErr = errors.New("c client: failed exchanges (connect, I/O or a bad response)")
	}
	return res, nil
}
