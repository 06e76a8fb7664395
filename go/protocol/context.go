package protocol

import (
	"fmt"
	"strings"
)

// ReservedContextPrefix starts context keys that only Pluton itself may set.
const ReservedContextPrefix = "pluton."

// AppendContext appends one key/value pair to a context payload (the payload
// of the 'j' netstring). Setting a key twice appends twice; readers take the
// last value.
func AppendContext(dst []byte, key, value string) []byte {
	dst = appendStringField(dst, TypeContextKey, key)
	return appendStringField(dst, TypeContextValue, value)
}

// ContextPair is one key/value pair of a context.
type ContextPair struct {
	Key, Value string
}

// ParseContext decodes a context payload into its pairs, in order. It returns
// a *DecodeError naming what is wrong for a malformed payload.
func ParseContext(payload []byte) ([]ContextPair, error) {
	var pairs []ContextPair
	for len(payload) > 0 {
		key, rest, err := contextNetstring(payload, TypeContextKey)
		if err != nil {
			return nil, err
		}
		value, rest, err := contextNetstring(rest, TypeContextValue)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, ContextPair{Key: string(key), Value: string(value)})
		payload = rest
	}
	return pairs, nil
}

// ContextMap decodes a context payload into a map in which the last value of
// a repeated key wins.
func ContextMap(payload []byte) (map[string]string, error) {
	pairs, err := ParseContext(payload)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.Key] = p.Value
	}
	return m, nil
}

// IsReservedContextKey reports whether key uses the reserved "pluton." prefix.
func IsReservedContextKey(key string) bool { return strings.HasPrefix(key, ReservedContextPrefix) }

func contextNetstring(b []byte, want byte) (payload, rest []byte, err error) {
	i := 0
	n := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
		if n > MaxLength {
			return nil, nil, &DecodeError{Msg: "Service Error: Context " + msgTooLong}
		}
	}
	switch {
	case i == 0:
		return nil, nil, &DecodeError{Msg: "Service Error: Context " + msgLeadingNotDigit}
	case i == len(b):
		return nil, nil, &DecodeError{Msg: "Service Error: Context truncated"}
	case b[i] != want:
		// The byte as it is (the original's char): %c would write a byte of 0x80 and above as UTF-8.
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("Service Error: Unexpected Context type. Wanted: '%c', but got: '%s'", want, b[i:i+1])}
	}
	i++
	if len(b)-i < n+1 {
		return nil, nil, &DecodeError{Msg: "Service Error: Context truncated"}
	}
	if t := b[i+n]; t != ',' && t != '\n' {
		return nil, nil, &DecodeError{Msg: "Service Error: Context " + msgBadTerminator}
	}
	return b[i : i+n], b[i+n+1:], nil
}
