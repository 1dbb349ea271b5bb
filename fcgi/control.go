package fcgi

import (
	"encoding/json"
	"net/http"
)

// ControlHandler returns the plain-HTTP handler for the worker's control socket:
//
//	GET /status  Stats as JSON (?pretty to indent)
//	GET /ping    "pong"
//
// Serve it with net/http on its own Unix socket, not through the FastCGI listener: it
// then bypasses the cap and answers even when every slot is busy, which is exactly when
// operators need it (php-fpm's status page is unreachable then, until pm.status_listen).
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		var err error
		if r.URL.Query().Has("pretty") {
			b, err = json.MarshalIndent(s.Stats(), "", "  ")
		} else {
			b, err = json.Marshal(s.Stats())
		}
		if err != nil {
			// Only an Extra value that cannot be encoded gets here.
			s.opt.Logger.WithError(err).Error("fcgi: encoding status")
			http.Error(w, "encoding status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(append(b, '\n'))
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("pong"))
	})
	return mux
}
