package handlers

import "net/http"

// Ping answers "pong": the health check nginx and load balancers use. It touches nothing but
// the process, so it says the worker is alive and accepting, not that MariaDB is.
func Ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte("pong\n"))
}
