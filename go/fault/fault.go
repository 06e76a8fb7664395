// Package fault defines Pluton's fault codes and the Fault error type shared
// by the client and service libraries.
//
// Codes below zero are system faults raised by the libraries; 0 is no fault;
// 1 to 10 are reserved user faults with predefined meanings (6
// serviceException and 7 serviceUnavailable are this project's, see
// docs/sdk.md); any other positive code belongs to the service that sent it.
package fault

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Code is a Pluton fault code.
type Code int

// The fault codes of the original, with the same numbers.
const (
	NoFault                     Code = 0
	DeserializeFailed           Code = 1
	UnknownFunction             Code = 2
	RequestTooLarge             Code = 3
	RemoteConnectFailed         Code = 4
	RemoteTransferFailed        Code = 5
	ServiceException            Code = 6 // this project: the service's own code failed (error, panic, exception)
	ServiceUnavailable          Code = 7 // this project: the manager answers for a service that cannot take requests
	LastReservedUserFault       Code = 10
	AlreadyInitialized          Code = -1
	NotInitialized              Code = -2
	RequestNotAdded             Code = -3
	RequestAlreadyAdded         Code = -4
	RequestInProgress           Code = -5
	ResponseInProgress          Code = -6
	Unimplemented               Code = -7
	BadRequestLength            Code = -8
	NoAffinity                  Code = -9
	NoWaitNotAllowed            Code = -10
	NeedNoRetry                 Code = -11
	OpenSocketFailed            Code = -15
	ConnectFailed               Code = -16
	SocketWriteFailed           Code = -17
	SocketReadFailed            Code = -18
	ServiceTimeout              Code = -19
	IncompleteResponse          Code = -20
	ResponsePacketFormatError   Code = -21
	ContextFormatError          Code = -22
	ContextReservedNamespace    Code = -23
	SetsockoptFailed            Code = -24
	FcntlFailed                 Code = -25
	ServiceNotFound             Code = -30
	ServiceKeyBad               Code = -31
	MapInitializationFailed     Code = -32
	OpenForMmapFailed           Code = -33
	LookupButNoMap              Code = -34
	PersistentRemapFlag         Code = -35
	ExceededRetryLimit          Code = -43
	RetryNotAllowed             Code = -44
	RemoteNotAllowed            Code = -45
	WriteEventForWrongFD        Code = -46
	ReadEventForWrongFD         Code = -47
	WriteEventWrongState        Code = -48
	ReadEventWrongState         Code = -49
	OpenAcceptSocketFailed      Code = -51
	MmapInheritedShmFDFailed    Code = -52
	GetRequestNotNext           Code = -53
	AcceptFailed                Code = -54
	NoFauxSTDIN                 Code = -55
	WrongNSType                 Code = -56
	RequestDecodeFailed         Code = -57
	RequestNetStringParseError  Code = -58
	SendResponseNotNext         Code = -59
	SendRawResponseNotNext      Code = -60
	NetStringTooLarge           Code = -61
	UnexpectedEOF               Code = -62
	BindFailed                  Code = -63
	UnlinkFailed                Code = -64
	ListenFailed                Code = -65
	EmptyIdentifier             Code = -66
	PollInterrupted             Code = -67
	ShmFstatFailed              Code = -101
	ShmMmapFailed               Code = -102
	ShmVersionMisMatch          Code = -103
	ShmThreadConfigNotService   Code = -104
	ShmThreadServiceNotConfig   Code = -105
	ShmPreWriteFailed           Code = -106
	ShmImpossiblySmall          Code = -107
	SeriousInternalOSError      Code = -998
	SeriousInternalRoutingError Code = -999
)

type description struct{ name, english string }

var descriptions = map[Code]description{
	NoFault:                     {"noFault", "no fault"},
	DeserializeFailed:           {"deserializeFailed", "the service could not de-serialize the request"},
	UnknownFunction:             {"unknownFunction", "a wildcard service got a function it does not know"},
	RequestTooLarge:             {"requestTooLarge", "request too large"},
	RemoteConnectFailed:         {"remoteConnectFailed", "proxy could not reach the remote host"},
	RemoteTransferFailed:        {"remoteTransferFailed", "proxy transfer failed part-way"},
	ServiceException:            {"serviceException", "the service's own code failed"},
	ServiceUnavailable:          {"serviceUnavailable", "the service cannot take requests now"},
	LastReservedUserFault:       {"lastReservedUserFault", "top of the reserved user range"},
	AlreadyInitialized:          {"alreadyInitialized", "initialize called twice"},
	NotInitialized:              {"notInitialized", "a call made before initialize"},
	RequestNotAdded:             {"requestNotAdded", "request was never added"},
	RequestAlreadyAdded:         {"requestAlreadyAdded", "request added twice"},
	RequestInProgress:           {"requestInProgress", "request not yet fully sent"},
	ResponseInProgress:          {"responseInProgress", "response not yet read"},
	Unimplemented:               {"unimplemented", "method not implemented"},
	BadRequestLength:            {"badRequestLength", "request length < 0"},
	NoAffinity:                  {"noAffinity", "needAffinity without an affinity connection"},
	NoWaitNotAllowed:            {"noWaitNotAllowed", "noWait together with keepAffinity"},
	NeedNoRetry:                 {"needNoRetry", "keepAffinity requires noRetry"},
	OpenSocketFailed:            {"openSocketFailed", "socket() failed"},
	ConnectFailed:               {"connectFailed", "connect() failed"},
	SocketWriteFailed:           {"socketWriteFailed", "socket write failed"},
	SocketReadFailed:            {"socketReadFailed", "socket read failed"},
	ServiceTimeout:              {"serviceTimeout", "client timeout expired"},
	IncompleteResponse:          {"incompleteResponse", "service closed with the response unfinished"},
	ResponsePacketFormatError:   {"responsePacketFormatError", "response packet invalid"},
	ContextFormatError:          {"contextFormatError", "context malformed"},
	ContextReservedNamespace:    {"contextReservedNamespace", "context key uses the pluton. prefix"},
	SetsockoptFailed:            {"setsockoptFailed", "setsockopt failed"},
	FcntlFailed:                 {"fcntlFailed", "fcntl failed"},
	ServiceNotFound:             {"serviceNotFound", "ServiceKey is not in lookupMap"},
	ServiceKeyBad:               {"serviceKeyBad", "ServiceKey badly formed"},
	MapInitializationFailed:     {"mapInitializationFailed", "could not open the lookup map"},
	OpenForMmapFailed:           {"openForMmapFailed", "open() of the lookup map failed"},
	LookupButNoMap:              {"lookupButNoMap", "lookup attempted with no map"},
	PersistentRemapFlag:         {"persistentRemapFlag", "map still flagged stale after re-mapping"},
	ExceededRetryLimit:          {"exceededRetryLimit", "retry limit exceeded"},
	RetryNotAllowed:             {"retryNotAllowed", "failed and noRetry set"},
	RemoteNotAllowed:            {"remoteNotAllowed", "noRemote request reached a relay"},
	WriteEventForWrongFD:        {"writeEventForWrongFD", "bad fd given to sendCanWriteEvent"},
	ReadEventForWrongFD:         {"readEventForWrongFD", "bad fd given to sendCanReadEvent"},
	WriteEventWrongState:        {"writeEventWrongState", "write event in the wrong state"},
	ReadEventWrongState:         {"readEventWrongState", "read event in the wrong state"},
	OpenAcceptSocketFailed:      {"openAcceptSocketFailed", "could not open plutonAcceptSocket"},
	MmapInheritedShmFDFailed:    {"mmapInheritedShmFDFailed", "could not map fd 4"},
	GetRequestNotNext:           {"getRequestNotNext", "getRequest out of sequence"},
	AcceptFailed:                {"acceptFailed", "accept() failed"},
	NoFauxSTDIN:                 {"noFauxSTDIN", "shell mode without fd 3"},
	WrongNSType:                 {"wrongNSType", "unexpected netstring type"},
	RequestDecodeFailed:         {"requestDecodeFailed", "request packet decode failed"},
	RequestNetStringParseError:  {"requestNetStringParseError", "request netstring parse failed"},
	SendResponseNotNext:         {"sendResponseNotNext", "sendResponse out of sequence"},
	SendRawResponseNotNext:      {"sendRawResponseNotNext", "sendRawResponse out of sequence"},
	NetStringTooLarge:           {"netStringTooLarge", "inbound netstring larger than the buffer may grow"},
	UnexpectedEOF:               {"unexpectedEOF", "EOF mid-packet"},
	BindFailed:                  {"bindFailed", "bind() failed"},
	UnlinkFailed:                {"unlinkFailed", "unlink of the socket failed"},
	ListenFailed:                {"listenFailed", "listen() failed"},
	EmptyIdentifier:             {"emptyIdentifier", "empty params to openService"},
	PollInterrupted:             {"pollInterrupted", "poll returned EINTR"},
	ShmFstatFailed:              {"shmFstatFailed", "fstat of the map fd failed"},
	ShmMmapFailed:               {"shmMmapFailed", "mmap failed"},
	ShmVersionMisMatch:          {"shmVersionMisMatch", "shared-memory version differs"},
	ShmThreadConfigNotService:   {"shmThreadConfigNotService", "config is threaded but the service is not"},
	ShmThreadServiceNotConfig:   {"shmThreadServiceNotConfig", "service is threaded but the config is not"},
	ShmPreWriteFailed:           {"shmPreWriteFailed", "pre-extending the mmap file failed"},
	ShmImpossiblySmall:          {"shmImpossiblySmall", "lookup map file too small"},
	SeriousInternalOSError:      {"seriousInternalOSError", "a system call failed unexpectedly"},
	SeriousInternalRoutingError: {"seriousInternalRoutingError", "response for the wrong client"},
}

// Name returns the code's symbolic name, e.g. "serviceTimeout", or "" for a
// service-defined code.
func (c Code) Name() string { return descriptions[c].name }

// English returns the code's short description, or "" for a service-defined code.
func (c Code) English() string { return descriptions[c].english }

// IsTimeout reports whether the code means the client's timeout expired.
func (c Code) IsTimeout() bool { return c == ServiceTimeout }

// IsSystem reports whether the code was raised by a Pluton library rather than a service.
func (c Code) IsSystem() bool { return c < 0 }

// Fault is an error carrying a fault code and text. Service faults carry the
// service's own code and text; system faults may wrap the underlying error.
type Fault struct {
	Code Code
	Text string // the fault text, e.g. "sleep time negative" or a key that was not found
	Err  error  // the underlying cause, if any (e.g. a *net.OpError or syscall.Errno)
}

// New returns a Fault with the given code and text.
func New(code Code, text string) *Fault { return &Fault{Code: code, Text: text} }

// Wrap returns a Fault with the given code and text caused by err.
func Wrap(code Code, text string, err error) *Fault { return &Fault{Code: code, Text: text, Err: err} }

// Error returns "<code>:<text>" followed by the cause, if any.
func (f *Fault) Error() string {
	s := fmt.Sprintf("%d:%s", f.Code, f.Text)
	if name := f.Code.Name(); name != "" {
		s = fmt.Sprintf("%s (%s)", s, name)
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

// Timeout reports whether the fault is a client timeout (ServiceTimeout,
// -19), the fault a caller most often tests for.
func (f *Fault) Timeout() bool { return f.Code.IsTimeout() }

// Unwrap returns the underlying cause.
func (f *Fault) Unwrap() error { return f.Err }

// Message formats the fault as the original library did:
//
//	[<pre> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>:<strerror>][ '<text>']
//
// The errno part appears when the cause is a syscall.Errno.
//
// The parenthesised description appears only in the long format.
func (f *Fault) Message(pre string, long bool) string {
	var b strings.Builder
	if pre != "" {
		b.WriteString(pre)
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "pluton::Fault=%d", f.Code)
	if long && f.Code.Name() != "" {
		fmt.Fprintf(&b, " (%s:%s)", f.Code.Name(), f.Code.English())
	}
	var errno syscall.Errno
	if errors.As(f.Err, &errno) {
		fmt.Fprintf(&b, " errno=%d:%s", int(errno), errno.Error())
	}
	if f.Text != "" {
		fmt.Fprintf(&b, " '%s'", f.Text)
	}
	return b.String()
}
