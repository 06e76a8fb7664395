// Package client is the Go client library of Pluton: it sends requests to
// local Pluton services over Unix-domain sockets and returns their
// responses, with the semantics of the original C++ pluton::client.
//
// # Use
//
//	c, err := client.New("myApp", client.WithLookup(path), client.WithTimeout(4*time.Second))
//	resp, err := c.Call(ctx, "system.echo.0.raw", data, client.Context("echo.sleepMS", "5"))
//
// A Client is safe for concurrent use by any number of goroutines; Call
// blocks the calling goroutine only. To keep many requests in flight from
// one goroutine, use a Batch (the original's executeAndWaitAll, Any, One and
// Sent):
//
//	b := c.NewBatch()
//	for _, r := range reqs { // r := client.NewRequest(key, data, opts...)
//		if err := b.Add(ctx, r); err != nil { ... } // checks made before any I/O
//	}
//	for r := b.WaitAny(); r != nil; r = b.WaitAny() {
//		resp, err := r.Response(), r.Err()
//	}
//
// # Errors
//
// Every error is a *fault.Fault (use errors.As). A fault sent by the
// service carries the service's code and text; the library's own faults have
// negative codes: requestAlreadyAdded -4, noAffinity -9, noWaitNotAllowed
// -10, needNoRetry -11, openSocketFailed -15, connectFailed -16,
// socketWriteFailed -17, socketReadFailed -18, serviceTimeout -19,
// incompleteResponse -20, responsePacketFormatError -21 (also for a response
// whose id or client name is not ours), contextReservedNamespace -23,
// serviceNotFound -30, serviceKeyBad -31, and from New openForMmapFailed
// -33, mapInitializationFailed -32 and shmVersionMisMatch -103. The
// original's message format is Fault.Message. System faults wrap their cause
// (a syscall.Errno, os.ErrDeadlineExceeded, context.Canceled, ...), so
// errors.Is works on it.
//
// # Timeouts
//
// Each request has its own deadline, fixed when it starts (Call, Do or
// Batch.Add): the earlier of the context's deadline and the start plus the
// request's timeout (Timeout option), else the client's (WithTimeout,
// default 4 s). Unlike the original, there is no per-client clock shared by
// every outstanding request. Cancelling the context ends the request at
// once. A timed-out request fails with serviceTimeout (-19); the client stays
// usable. The timeout is sent to the service in the request's 'l' field.
//
// # Lookup
//
// New reads the lookup location once (WithLookup, else $plutonLookupMap,
// else the first of DefaultLookupPaths that exists: <Home()>/lookup.map, then
// DefaultLookupPath): either the manager's lookup map, of which only the
// "rendezvous <dir>" line is used, or the rendezvous directory itself. A
// request for key K connects to <dir>/K.socket; if that does not exist it
// connects to the wildcard <dir>/<App>..<Ver>.<Ser>.socket; if neither
// exists it fails with serviceNotFound (-30). Nothing else is cached, so a
// service that a reload adds, replaces (by renaming a new socket over the old
// one) or removes is seen by the next request. After a miss the client
// re-reads the lookup map (at most every 500 ms), in case the manager was
// restarted with another rendezvous directory.
//
// # Retry: no resend of a request that may have been read
//
// A request is resent at most once, and only when it provably was not read
// by a service (docs/sdk.md rule 6): the connection was refused
// (connectFailed with ECONNREFUSED, for example a socket whose manager is
// gone, or the moment of a reload), retried 10 ms later on a fresh
// connection made with a fresh lookup; never for NoRetry or NeedAffinity
// requests. A missing socket (ENOENT) falls back to the wildcard service and
// then re-reads the lookup map; a full listen backlog (EAGAIN on connect) is
// not a failure: the client waits and connects again, until the deadline,
// as a blocking connect would.
//
// Once any byte of the request was written it is never resent, so a poison
// request that kills its instance kills one instance, and the caller hears
// at once. A connection that closes before a complete response (EOF or
// ECONNRESET, before or after the response's first byte, or EPIPE while
// writing) is incompleteResponse (-20) with the text DiedText. When the
// service answered and closed before taking the whole request (a fault 3
// requestTooLarge, or the manager's fault 7 serviceUnavailable), that
// answer is the result. Garbage (not a packet, or not ours by id or client
// name) is responsePacketFormatError (-21), a fault sent by the service or
// by the manager (7 serviceUnavailable: the service is halted, held, backed
// off after crashes, or restarting; the text names the state and its
// cause) is returned as is, and neither is resent. The original resent
// after any of these.
//
// # noWait
//
// A NoWait request succeeds, with no data and no service name, when the
// service closes the connection without sending a byte, which it does as
// soon as it has read the whole request. So the request completes once an
// instance has accepted and read it, not when its bytes are in the socket
// buffer; a service that never accepts makes it time out.
//
// # Affinity
//
// Affinity belongs to a Request object. After a complete response to a
// request with KeepAffinity (even one carrying a service fault) the Request
// keeps the connection, and its next use sends over it, skipping the
// connect, so it reaches the same instance. Rules, checked before any I/O
// and in the original's order: KeepAffinity with NoWait is noWaitNotAllowed
// (-10); KeepAffinity without NoRetry is needNoRetry (-11); NeedAffinity
// without a held connection is noAffinity (-9), and a NeedAffinity request
// skips the key's lookup. A request without KeepAffinity sent over the held
// connection ends the affinity (the connection is closed after its
// response), and so does any failure on it. A NeedAffinity request over a
// connection the service has dropped (after its affinity-timeout) fails and
// is not retried. Request.Close ends the affinity explicitly. Call has no
// Request to hold a connection: it closes it after KeepAffinity requests,
// and its NeedAffinity requests fail with noAffinity.
//
// # Wire details
//
// The client name is "<name>:<pid>". Request ids come from one counter per
// Client, starting at 100 and wrapping back to 100 after 10,000,000; the
// retry after a refused connection reuses the id. A response is accepted only if it carries the
// request's id and the client's name. Context keys starting with "pluton."
// are reserved (contextReservedNamespace, -23).
//
// # Cost
//
// A request costs one socket, connect, writev (head, data and trailer
// without copying the data), poll, read and close, and no allocation but
// the response data (none for a reused Request whose buffer is large
// enough); a context that can be cancelled adds four, for the
// context.AfterFunc that watches it. A Call or Do started while no other
// Call or Do is in progress in the process waits for its socket in poll(2)
// on its own thread, with the time left to its deadline as the timeout;
// cancelling its context shuts the socket down, which wakes the poll. When
// other requests are in progress, and always in a Batch, the socket is
// registered with the runtime poller instead (an *os.File, two more
// allocations, plus a goroutine per Batch request), so that waiting
// requests park their goroutines rather than each holding an OS thread.
// Buffers and the protocol parser come from a sync.Pool, the service names
// of recent responses are reused, and options are plain values.
// docs/client.md has the figures.
package client
