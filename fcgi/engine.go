package fcgi

import (
	"fmt"
	"net/http"
	stdfcgi "net/http/fcgi"
	"strings"
)

// Engine names the FastCGI protocol implementation under a Server's cap, queue and
// counters.
type Engine string

// The engines a Server can run.
const (
	// EngineNative is the package's own responder: one loop per connection, buffered
	// reads, params decoded without maps, pooled response buffers, and a response written
	// with as few write(2) calls as possible (one for a small response). It is the default.
	EngineNative Engine = "native"
	// EngineStdlib is Go's net/http/fcgi, kept as the reference implementation: same
	// handler, same counters, slower serving loop.
	EngineStdlib Engine = "stdlib"
)

// ParseEngine returns the Engine named s ("" means the default, native), or an error
// naming the valid values.
func ParseEngine(s string) (Engine, error) {
	switch Engine(s) {
	case "", EngineNative:
		return EngineNative, nil
	case EngineStdlib:
		return EngineStdlib, nil
	}
	return "", fmt.Errorf("unknown FastCGI engine %q: use %q or %q", s, EngineNative, EngineStdlib)
}

// paramsKey is the context key under which the native engine stores a request's raw
// FastCGI params, so that ProcessEnv and Param can decode them on demand instead of every
// request paying for a map.
type paramsKey struct{}

// ProcessEnv returns the FastCGI params of r that are not mapped onto the http.Request
// (everything but CONTENT_LENGTH, CONTENT_TYPE, HTTPS, PATH_INFO, QUERY_STRING,
// REMOTE_ADDR, REMOTE_HOST, REMOTE_PORT, REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME,
// SERVER_PROTOCOL and HTTP_*), exactly as net/http/fcgi.ProcessEnv does, on either engine.
// It builds a new map on each call; use Param on hot paths.
func ProcessEnv(r *http.Request) map[string]string {
	raw, ok := r.Context().Value(paramsKey{}).(string)
	if !ok {
		return stdfcgi.ProcessEnv(r)
	}
	env := make(map[string]string)
	for p := raw; len(p) > 0; {
		k, v, rest, ok := nextPair(p)
		if !ok {
			break
		}
		p = rest
		if envParam(k) {
			env[k] = v
		}
	}
	return env
}

// Param returns the FastCGI param name of r if ProcessEnv would include it (for example
// "GEOIP_COUNTRY_CODE" or "SERVER_NAME"), or "". On the native engine it scans the
// request's params without allocating; when a name is sent twice the last one wins, as
// with net/http/fcgi.
func Param(r *http.Request, name string) string {
	if !envParam(name) {
		return ""
	}
	raw, ok := r.Context().Value(paramsKey{}).(string)
	if !ok {
		return stdfcgi.ProcessEnv(r)[name]
	}
	var val string
	for p := raw; len(p) > 0; {
		k, v, rest, ok := nextPair(p)
		if !ok {
			break
		}
		p = rest
		if k == name {
			val = v
		}
	}
	return val
}

// envParam reports whether net/http/fcgi passes param k to ProcessEnv rather than
// mapping it onto the request (its addFastCGIEnvToContext).
func envParam(k string) bool {
	switch k {
	case "CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS",
		"PATH_INFO", "QUERY_STRING", "REMOTE_ADDR",
		"REMOTE_HOST", "REMOTE_PORT", "REQUEST_METHOD",
		"REQUEST_URI", "SCRIPT_NAME", "SERVER_PROTOCOL":
		return false
	}
	return !strings.HasPrefix(k, "HTTP_")
}
