// Package service is the Go service library of Pluton: it turns a program
// into a Pluton service. A service is a plain single-threaded loop: get a
// request, answer it with a response or a fault, repeat until told to stop.
//
//	svc, err := service.New("echo")
//	if err != nil {
//		log.Fatal(err) // a *fault.Fault, e.g. -55 noFauxSTDIN
//	}
//	defer svc.Close()
//	for {
//		req, err := svc.Next()
//		if err != nil {
//			break // service.ErrStop: a clean stop; otherwise a *fault.Fault
//		}
//		req.Respond(req.Data()) // or req.Fault(111, "sleep time negative")
//	}
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
//     the slot's maximum-requests limit and stops on SIGTERM. Client errors
//     (EOF, a malformed packet, a read error) are hidden: they are reported
//     as readError and the instance goes back to accept.
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
// # Stopping
//
// Next returns ErrStop when the loop must end without a fault: end of input
// in stand-alone mode, the maximum-requests limit, or the manager's stop
// signal. In manager mode SIGTERM received while the instance waits for a
// connection (or for the next request on an affinity connection) ends the
// process at once with exit status 0, after the final report; received while
// a request is being served, it lets the request finish and the next call of
// Next returns ErrStop. Any other error from Next is a *fault.Fault; the
// reference services exit with a non-zero status then. Call Close before
// exiting in every case.
//
// # Performance
//
// In manager mode a small request costs four system calls: accept4, read,
// writev and close. The listening socket is served with plain blocking
// system calls, the stats slot is a shared memory mapping written in place,
// and time comes from the vDSO clock.
package service
