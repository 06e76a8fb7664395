package pool

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Watcher tells the manager at once when a connection arrives on the socket
// of a service that has no instance, so that the first request does not wait
// for the next sample. One goroutine blocks in epoll_wait for all services;
// each socket is armed one-shot.
type Watcher struct {
	epfd int
	post func(func())
	mu   sync.Mutex
	fns  map[int32]func()
}

// NewWatcher starts the watcher goroutine; post runs a handler on the
// manager's loop.
func NewWatcher(post func(func())) (*Watcher, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &Watcher{epfd: fd, post: post, fns: make(map[int32]func())}
	go w.loop()
	return w, nil
}

func (w *Watcher) loop() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			w.mu.Lock()
			fn := w.fns[ev.Fd]
			w.mu.Unlock()
			if fn != nil {
				w.post(fn)
			}
		}
	}
}

// Arm watches fd for one pending connection; fn runs on the manager's loop.
func (w *Watcher) Arm(fd int, fn func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
	_, known := w.fns[int32(fd)]
	w.fns[int32(fd)] = fn
	if known {
		return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// Remove stops watching fd; call it before closing fd.
func (w *Watcher) Remove(fd int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.fns[int32(fd)]; ok {
		delete(w.fns, int32(fd))
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}
