// Package service is the Go service library of Pluton: it turns a program
// into a Pluton service. A service is a plain loop: get a request, answer
// it with a response or a fault, repeat until told to stop. The handler
// form runs that loop for you (and, under maximum-threads, several of them
// at once):
//
//	svc, err := service.New("echo")
//	if err != nil {
//		log.Fatal(err) // a *fault.Fault whose text says what to do
//	}
//	defer svc.Close()
//	err = svc.Serve(func(req *service.Request) ([]byte, error) {
//		return req.Data(), nil // or: nil, fault.New(111, "sleep time negative")
//	})
//
// The loop form gives the same control by hand:
//
//	for {
//		req, err := svc.Next()
//		if err != nil {
//			break // service.ErrStopped: a clean stop; otherwise a *fault.Fault
//		}
//		req.Respond(req.Data()) // or req.Fault(111, "sleep time negative")
//	}
//
// docs/sdk.md is the contract this package shares with the Python, PHP and
// Perl SDKs.
//
// # Handler form
//
// Serve sends the data the handler returns. A returned *fault.Fault is sent
// as that fault; any other error is sent as fault 6 serviceException with
// the error's text; a panic is recovered and sent as fault 6 "panic: <value>"
// with the stack on stderr. In every case the same process goes on serving
// the next request. A handler that called Respond or Fault itself has
// answered; its return value is then ignored.
//
// In the loop form, exactly one of Respond or Fault answers a request; a
// request left unanswered when Next is called again is answered with fault
// 6 "request not answered by the service".
//
// # Modes
//
// New chooses one of three modes, as the original library did
// (docs/protocol.md §3); the service code is the same in all of them:
//
//   - Manager mode, when fd 3 is a listening Unix socket, fd 4 a regular file
//     (the stats segment) and fd 5 a FIFO (the report pipe): the instance
//     accepts connections on fd 3, keeps its slot of the stats segment up to
//     date (environment plutonSlot), reports every request on fd 5, honours
//     the slot's maximum-requests limit, records requests when the segment
//     names a recorder prefix, and stops on SIGTERM. Client errors (EOF, a
//     malformed packet, a read error, a connection that does not send its
//     request within request-read-timeout) are hidden: they are reported as
//     readError and the instance goes on.
//   - Accept mode, when plutonAcceptSocket names a socket path: the service
//     binds and listens there itself. For debugging.
//   - Stand-alone mode otherwise: requests are read from fd 3, any number
//     back to back, and responses are written to fd 4, e.g.
//     "echoService 3<request 4>response" or under plTest. End of input stops
//     the loop cleanly.
//
// A descriptor counts as present only if it was inherited, i.e. is not
// close-on-exec: a Go program started without fds 3 and 4 may find the
// runtime's own files there (since Go 1.25 it keeps its cgroup CPU limit
// files open).
//
// Outside manager mode a client error stops the loop: Next returns a
// *fault.Fault with code RequestDecodeFailed (-57) or
// RequestNetStringParseError (-58) and the parser's message.
//
// # Connections and limits
//
// In manager and accept mode an instance never lets one client hold it
// (docs/protocol.md §8). A connection whose packet is not complete after
// the first read waits, with others, in a bounded set (maximum-pending,
// default 64; the oldest is closed to make room) while the instance serves
// whichever connection completes first; a connection still incomplete at
// request-read-timeout (default 5 s after its accept) is closed. A
// netstring whose length prefix exceeds maximum-request-size (default 64
// MiB) is answered with fault 3 requestTooLarge before its payload is read.
// Under the manager the limits come from the stats segment header, where 0
// means no limit; without a segment the defaults apply. Stand-alone mode
// applies only the size limit: the fault is written to fd 4 and the loop
// ends with it.
//
// # Stopping
//
// Next returns ErrStopped when the loop must end without a fault: the
// manager's stop signal (SIGTERM), the maximum-requests limit, or end of
// input in stand-alone mode. Stops are normal returns: the library never
// exits the process, so deferred calls and the code after the loop run. An
// instance waiting for a connection notices SIGTERM within a second (fd 3
// carries a 1 s receive timeout); one serving a request finishes it first
// and the next Next returns ErrStopped. The OnStop hooks run once, before
// the loop returns. A program that registered its own SIGTERM handler with
// signal.Notify keeps receiving the signal: the library adds its channel
// beside the program's. Any other error from Next is a *fault.Fault; the
// reference services exit with a non-zero status then. Call Close before
// exiting in every case: it sends the final report and releases the
// descriptors.
//
// # Threads
//
// Under the manager, the service's maximum-threads T (the segment header's
// threadsPerInstance, docs/protocol.md §8.7) lets one instance serve T
// requests at once. Serve then runs T workers, goroutines that each run
// the loop above with their own thread slot (plutonSlot+t: state, counters,
// busy time and the request's identity), connections, buffers and Request;
// all accept on the service's socket, and the handler is called
// concurrently, so it must be safe for that. Thread t names itself
// "<name>:<pid>/<t>" in its responses. The workers share the report pipe
// (one record buffer, whose records carry plutonSlot), the recorder's file
// index, the stop signal and the request count that maximum-requests
// limits: the worker that takes the last allowed request, or that ends
// with a fault, makes every worker leave, each after serving the
// connections it has accepted. Serve returns once every worker has left,
// with nil or the first fault a worker ended with, and the OnStop hooks
// run once, after that. The per-instance fields (maximum-requests, the
// manager's shutdown request, the exit reason) live in the first slot.
//
// A worker that holds connections whose packet is incomplete leaves the
// new connections to a worker waiting in accept when there is one (it
// looks again every 10 ms), so that it is free to serve its own
// connections when their bytes arrive. When it starts serving a request
// all the same, it hands its incomplete connections over: the first
// worker to wait again takes them (a worker waiting in accept within its
// 1 s accept timeout), so a connection does not wait for the request of
// the worker that accepted it.
//
// The loop form cannot serve T requests at once: with T above 1, Next
// fails with fault -104 shmThreadConfigNotService ("maximum-threads <n>
// needs the handler form (Serve): the loop form serves one request at a
// time") and the loop ends. Accept and stand-alone modes have no segment
// and serve one request at a time; Threads reports T.
//
// # Accountability and the recorder
//
// Under the manager the instance's slot says busy from the moment a request
// is handed to the service's code until the service next asks for one, so a
// service that wedges after responding is still seen as busy and is killed
// as unresponsive; the slot also names the request (id, client name,
// recorder index) for crash forensics. When the segment header names a
// recorder prefix, every request read and every response written is kept in
// <prefix>in.<pid>.<NNNNN> and <prefix>out.<pid>.<NNNNN> (mode 0640; NNNNN
// counts from 00001 and wraps at recorder-cycle): "./svc 3<in.F 4>out"
// replays one. A recorder file that cannot be written is reported once on
// stderr and recording stops; requests never fail because of it.
//
// # Performance
//
// In manager mode a small request costs four system calls when its bytes
// are there at the accept: accept4, read, writev and close (a poll and a
// second read when they arrive just after it: the accepted connection is
// non-blocking, so that a silent client cannot hold the instance). The
// listening socket is served with plain system calls (those that cannot
// block, on non-blocking connections, are made raw, without the runtime's
// bookkeeping for blocking calls), the stats slot is a shared memory
// mapping written in place, and time comes from the vDSO clock.
//
// Large requests are read without intermediate copies. A netstring's
// length prefix sizes its buffer; the rest of a payload and the end of the
// packet are read with one readv; after requests of some size, a new
// connection reads a whole packet of that size with one read into a pooled
// buffer and its data is used in place; the response is written with one
// writev of the header, the data and the trailer (on a blocking socket from
// 128 KiB, when the connection closes after it). So Request.Data is valid
// only until the next call of Next, as documented.
//
// When the first read of a connection leaves 16 KiB or more of a payload
// to come (a request larger than the socket buffer, whose client is still
// writing it), the instance makes the connection blocking with a receive
// timeout of 5 ms and reads the rest with one recvmsg(MSG_WAITALL), as a
// server of blocking reads would, instead of a poll and a read per socket
// buffer's worth of bytes and accepting other connections meanwhile (which
// kept a large buffer per connection). A client that stops sending holds
// the instance those 5 ms at most, once: its connection then waits in the
// pending set like any incomplete one.
//
// Memory: the buffers of large payloads (over 4 KiB) come from a pool of
// the instance (of each thread, under maximum-threads), so a stream of
// large requests allocates nothing. The pool
// keeps at most 4 buffers, each at most twice the recent payload size (a
// maximum that decays by 1/8 per request, at least 256 KiB) and in all at
// most three times it plus 4 KiB each (the room of a read buffer for the
// packet's other fields), so three read buffers of the recent size. The buffer of an unusually large request is dropped
// after a few ordinary ones, every buffer over 256 KiB after a second
// without requests, and the memory of dropped buffers of 1 MiB or more is
// then returned to the operating system (debug.FreeOSMemory), so an idle
// instance does not keep its largest payload's memory. A length prefix
// alone never allocates more than 1 MiB, or twice the recent payload size,
// before the bytes arrive.
package service
