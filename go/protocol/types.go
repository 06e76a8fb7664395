package protocol

// MaxLength is the largest netstring payload length accepted (999,999,999).
const MaxLength = 999_999_999

// Netstring type bytes used in packets.
const (
	TypeRequest        byte = 'Q' // first netstring of a request packet
	TypeResponse       byte = 'A' // first netstring of a response packet
	TypeRequestID      byte = 'b'
	TypeClientName     byte = 'a'
	TypeServiceKey     byte = 'c'
	TypeTimeout        byte = 'l'
	TypeNoWait         byte = 'e'
	TypeNoRemote       byte = 'f'
	TypeNoRetry        byte = 'g'
	TypeKeepAffinity   byte = 'h'
	TypeNeedAffinity   byte = 'i'
	TypeContext        byte = 'j'
	TypeRequestData    byte = 'k'
	TypeFileDescriptor byte = 'm'
	TypeFaultCode      byte = 'p'
	TypeFaultText      byte = 'r'
	TypeResponseData   byte = 'q'
	TypeServiceName    byte = 's'
	TypeEnd            byte = 'z'
	TypeContextKey     byte = 'k' // inside a context payload
	TypeContextValue   byte = 'v' // inside a context payload
)

// typeNames are the original's names for the packet types (its
// packetToEnglish), used in the "Unexpected netString type" message.
var typeNames = map[byte]string{
	'Q': "requestPT", 'A': "responsePT", 'L': "remoteLoginPT", 'M': "loginResponsePT",
}

// TypeName returns the original's name for a packet type, e.g. "requestPT",
// or "?unknownPT?" for any other byte, a netstring type such as 'b'
// included, as the original's message has it.
func TypeName(t byte) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "?unknownPT?"
}

// Request is a decoded or to-be-encoded request packet.
//
// When filled by a Parser, Data and Context alias the parser's buffers and
// stay valid until the parser starts its next packet.
type Request struct {
	ID             int64
	ClientName     string // "<name>:<pid>"; left out of the packet when empty
	ServiceKey     string
	TimeoutMS      int64
	NoWait         bool
	NoRemote       bool
	NoRetry        bool
	KeepAffinity   bool
	NeedAffinity   bool
	FileDescriptor bool
	Context        []byte // the raw 'j' payload: <n>k<key>,<n>v<value>, pairs
	Data           []byte // left out of the packet when empty
}

// Response is a decoded or to-be-encoded response packet.
//
// When filled by a Parser, Data aliases the parser's buffers and stays valid
// until the parser starts its next packet.
type Response struct {
	ID          int64
	ClientName  string
	ServiceName string // "<name>:<pid>/0"
	FaultCode   int64  // 0 = no fault; sent only when non-zero
	FaultText   string // sent only with a non-zero FaultCode
	Data        []byte // left out of the packet when empty
}
