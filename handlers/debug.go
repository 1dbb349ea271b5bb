package handlers

import (
	"adnet/models"
	"net/http"
	"strconv"
	"time"
)

// maxDebugSleep bounds /debug/sleep so that even when enabled it cannot hold a child forever.
const maxDebugSleep = 30 * time.Second

// DebugSleep holds the request for ?ms=N milliseconds (at most 30 s, and never past the
// request's deadline), then answers "slept". It exists to test max_children, the queue and
// nginx's behaviour under saturation without an artificial load tool; it is mounted only when
// the configuration sets debug_endpoints = true.
func DebugSleep(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		writeError(w, r, nil, models.Errorf(models.EINVALID, "ms must be a non-negative integer"))
		return
	}
	d := min(time.Duration(ms)*time.Millisecond, maxDebugSleep)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		writeError(w, r, nil, models.Errorf(models.EUNAVAILABLE, "request deadline reached"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("slept\n"))
}
