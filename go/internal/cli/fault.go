package cli

import (
	"errors"

	"github.com/pluton-go/pluton/go/fault"
)

// FaultText is the text a command prints after a fault's code: the fault's
// own text, followed for a system fault by its cause ("<text>: <cause>"), or
// the cause alone when the fault has no text.
func FaultText(f *fault.Fault) string {
	switch {
	case f.Err == nil:
		return f.Text
	case f.Text == "":
		return f.Err.Error()
	case f.Code.IsSystem():
		return f.Text + ": " + f.Err.Error()
	default:
		return f.Text
	}
}

// Message formats err for an "Error: <command> <step>: <message>" line: a
// fault in the original's long format (fault.Fault.Message), any other error
// as its text.
func Message(err error) string {
	var f *fault.Fault
	if errors.As(err, &f) {
		return f.Message("", true)
	}
	return err.Error()
}

// Code returns the fault code of err, or 0 when err is not a fault.
func Code(err error) fault.Code {
	var f *fault.Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return 0
}

// AddRequestFault reports whether code is one the original raised when a
// request was added, before any I/O (its lookup happened there too): the
// commands report these as "<command> addRequest: <message>".
func AddRequestFault(code fault.Code) bool {
	switch code {
	case fault.NotInitialized, fault.RequestAlreadyAdded, fault.BadRequestLength, fault.NoAffinity,
		fault.NoWaitNotAllowed, fault.NeedNoRetry, fault.ContextReservedNamespace,
		fault.ServiceNotFound, fault.ServiceKeyBad, fault.LookupButNoMap, fault.PersistentRemapFlag:
		return true
	}
	return false
}
