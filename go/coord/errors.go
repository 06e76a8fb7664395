package coord

import (
	"errors"
	"fmt"
)

// Error codes sent in the `p` field of a response (docs/coordination.md,
// "Errors"). Every SDK exposes the same names.
const (
	CodeBadRequest = "bad_request" // a malformed or unknown request
	CodeNoHello    = "no_hello"    // the first request of a connection was not hello
	CodeNotFound   = "not_found"   // no semaphore (or timer) of that name
	CodeLimit      = "limit"       // a count limit was reached
	CodeTooLarge   = "too_large"   // a name, value or arguments over their size limit
	CodeTimeout    = "timeout"     // the wait ended before the lock or the change
	CodeNotOwner   = "not_owner"   // unlock of a mutex this instance does not hold
	CodeDeadlock   = "deadlock"    // lock of a mutex this instance already holds
	CodeConflict   = "conflict"    // a timer of that name exists with another period
	CodeDestroyed  = "destroyed"   // the semaphore was destroyed while waiting on it
	CodeShutdown   = "shutdown"    // the manager is shutting down
)

// Error is an error answered by the manager's coordination server.
type Error struct {
	Code string // one of the Code constants
	Text string // what was wrong, naming the object and the limit
}

func (e *Error) Error() string { return fmt.Sprintf("coord: %s: %s", e.Code, e.Text) }

// Is matches another *Error by code, so errors.Is(err, coord.ErrTimeout) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && t.Text == ""
}

// Sentinels for errors.Is.
var (
	ErrTimeout  = &Error{Code: CodeTimeout}
	ErrNotFound = &Error{Code: CodeNotFound}
	ErrLimit    = &Error{Code: CodeLimit}
	ErrTooLarge = &Error{Code: CodeTooLarge}
	ErrNotOwner = &Error{Code: CodeNotOwner}
	ErrDeadlock = &Error{Code: CodeDeadlock}
	ErrConflict = &Error{Code: CodeConflict}
)

// ErrClosed is returned by calls on a closed Client or after the manager
// closed the connection.
var ErrClosed = errors.New("coord: connection to the manager closed")
