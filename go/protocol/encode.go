package protocol

import "strconv"

// AppendNetstring appends one netstring <len><typ><payload>, to dst.
func AppendNetstring(dst []byte, typ byte, payload []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, typ)
	dst = append(dst, payload...)
	return append(dst, ',')
}

func appendStringField(dst []byte, typ byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, typ)
	dst = append(dst, s...)
	return append(dst, ',')
}

func appendNumberField(dst []byte, typ byte, v int64) []byte {
	var tmp [20]byte
	return AppendNetstring(dst, typ, strconv.AppendInt(tmp[:0], v, 10))
}

func appendFlag(dst []byte, typ byte, on bool) []byte {
	if !on {
		return dst
	}
	return append(dst, '0', typ, ',')
}

// endPacket is the end-of-packet netstring, always written with '\n'.
const endPacket = "0z\n"

// AppendRequestHead appends every netstring of r up to and including the
// header of its data netstring ("<n>k"), and returns the trailer that must
// follow r.Data (",0z\n", or "0z\n" when there is no data). Writing head,
// r.Data and trailer with one writev sends the packet without copying Data.
func AppendRequestHead(dst []byte, r *Request) (head []byte, trailer string) {
	dst = append(dst, '0', TypeRequest, ',')
	dst = appendNumberField(dst, TypeRequestID, r.ID)
	if r.ClientName != "" {
		dst = appendStringField(dst, TypeClientName, r.ClientName)
	}
	dst = appendStringField(dst, TypeServiceKey, r.ServiceKey)
	dst = appendNumberField(dst, TypeTimeout, r.TimeoutMS)
	dst = appendFlag(dst, TypeNoWait, r.NoWait)
	dst = appendFlag(dst, TypeNoRemote, r.NoRemote)
	dst = appendFlag(dst, TypeNoRetry, r.NoRetry)
	dst = appendFlag(dst, TypeKeepAffinity, r.KeepAffinity)
	dst = appendFlag(dst, TypeNeedAffinity, r.NeedAffinity)
	if len(r.Context) > 0 {
		dst = AppendNetstring(dst, TypeContext, r.Context)
	}
	dst = appendFlag(dst, TypeFileDescriptor, r.FileDescriptor)
	if len(r.Data) == 0 {
		return dst, endPacket
	}
	dst = strconv.AppendInt(dst, int64(len(r.Data)), 10)
	return append(dst, TypeRequestData), "," + endPacket
}

// AppendRequest appends the whole request packet r to dst.
func AppendRequest(dst []byte, r *Request) []byte {
	dst, trailer := AppendRequestHead(dst, r)
	dst = append(dst, r.Data...)
	return append(dst, trailer...)
}

// AppendResponseHead is AppendRequestHead for responses: it appends every
// netstring of r up to the header of its data netstring and returns the
// trailer that follows r.Data.
func AppendResponseHead(dst []byte, r *Response) (head []byte, trailer string) {
	dst = append(dst, '0', TypeResponse, ',')
	dst = appendNumberField(dst, TypeRequestID, r.ID)
	if r.ClientName != "" {
		dst = appendStringField(dst, TypeClientName, r.ClientName)
	}
	if r.ServiceName != "" {
		dst = appendStringField(dst, TypeServiceName, r.ServiceName)
	}
	if r.FaultCode != 0 {
		dst = appendNumberField(dst, TypeFaultCode, r.FaultCode)
		if r.FaultText != "" {
			dst = appendStringField(dst, TypeFaultText, r.FaultText)
		}
	}
	if len(r.Data) == 0 {
		return dst, endPacket
	}
	dst = strconv.AppendInt(dst, int64(len(r.Data)), 10)
	return append(dst, TypeResponseData), "," + endPacket
}

// AppendResponse appends the whole response packet r to dst.
func AppendResponse(dst []byte, r *Response) []byte {
	dst, trailer := AppendResponseHead(dst, r)
	dst = append(dst, r.Data...)
	return append(dst, trailer...)
}
