package status

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ControlContentType is the content type a control request (any method but
// GET and HEAD) must carry on a TCP status address. A browser cannot send it
// to another site without a CORS preflight, which the server never grants,
// so a web page cannot hold, halt or resume a service.
const ControlContentType = "application/json"

// crossSiteGuard refuses, with 403 and a JSON body that says why, a request
// that changes state and could come from a web page of another site:
//
//   - Host must name the address the connection was accepted on, host:port
//     as bound (also localhost:port when bound to loopback): a foreign Host is
//     a DNS rebinding attack;
//   - Origin, when present, must be http://<that Host>; "null" (a sandboxed
//     frame, a file: page, a redirect) is refused;
//   - Content-Type must be application/json: a "simple" request (form or
//     text/plain), which a browser sends cross-site without asking, never
//     changes state.
//
// GET and HEAD pass untouched. So does everything on a Unix socket status
// address, which no browser can reach and whose mode (0600) admits only the
// manager's user.
func crossSiteGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := checkControl(r); err != nil {
				replyCode(w, http.StatusForbidden, map[string]string{"error": err.Error()})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkControl applies the rule of crossSiteGuard to one request.
func checkControl(r *http.Request) error {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if _, ok := local.(*net.UnixAddr); ok {
		return nil
	}
	tcp, ok := local.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("control refused: cannot tell the address this request came in on")
	}
	hosts := hostNames(tcp)
	host := strings.ToLower(r.Host)
	if !slices.Contains(hosts, host) {
		return fmt.Errorf("control refused: Host %q does not name this status server (want %s); "+
			"a foreign Host is how a DNS rebinding page reaches a loopback server",
			r.Host, strings.Join(hosts, " or "))
	}
	if origins, present := r.Header["Origin"]; present {
		origin := ""
		if len(origins) > 0 {
			origin = origins[0]
		}
		switch {
		case origin == "null":
			return fmt.Errorf("control refused: Origin null (a sandboxed or file: page) may not change state")
		case !strings.EqualFold(origin, "http://"+host):
			return fmt.Errorf("control refused: Origin %q is not this status server (want http://%s)", origin, host)
		}
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != ControlContentType {
		return fmt.Errorf("control refused: Content-Type %q: a control request must be sent with "+
			"Content-Type: %s (a form or text/plain request can come from any web page)", ct, ControlContentType)
	}
	return nil
}

// hostNames returns the Host values that name a TCP status address: host:port
// as bound, localhost:port when it is loopback, and the bare host for port 80
// (which browsers leave out).
func hostNames(a *net.TCPAddr) []string {
	port := strconv.Itoa(a.Port)
	ip := a.IP.String()
	if a.IP.To4() != nil {
		ip = a.IP.To4().String()
	}
	names := []string{strings.ToLower(net.JoinHostPort(ip, port))}
	if a.IP.IsLoopback() {
		names = append(names, "localhost:"+port)
	}
	if a.Port == 80 {
		for _, n := range names {
			h, _, _ := net.SplitHostPort(n)
			if strings.Contains(h, ":") {
				h = "[" + h + "]"
			}
			names = append(names, h)
		}
	}
	return names
}
