// Package handlers holds adnet's HTTP handlers. They are thin: decode the request, validate,
// make one call into an engine or the store, and respond through the helpers in this file. They
// are plain http.Handlers, tested with httptest; they never see FastCGI.
package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"

	"adnet/models"
)

// statusOf maps a domain error code to an HTTP status: the one place where that mapping lives.
func statusOf(code string) int {
	switch code {
	case models.EINVALID:
		return http.StatusBadRequest
	case models.ENOTFOUND:
		return http.StatusNotFound
	case models.ECONFLICT:
		return http.StatusConflict
	case models.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case models.EFORBIDDEN:
		return http.StatusForbidden
	case models.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case models.ETOOMANY:
		return http.StatusTooManyRequests
	case models.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case models.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// Fields maps the input field at fault (its JSON name) to the message, when the
		// error names one: what forms show next to the field.
		Fields map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

// writeError answers err as JSON {"error":{"code","message"}} with the mapped status. Internal
// errors are logged here, once, with the request; their details never reach the client. A
// handler that cannot produce internal errors may pass a nil log.
func writeError(w http.ResponseWriter, r *http.Request, log logrus.FieldLogger, err error) {
	code := models.ErrorCode(err)
	if code == models.EINTERNAL && log != nil {
		log.WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).WithError(err).Error("internal error")
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = models.ErrorMessage(err)
	if f := models.ErrorField(err); f != "" {
		body.Error.Fields = map[string]string{f: body.Error.Message}
	}
	status := statusOf(code)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSON(w, status, body)
}

// writeMethodNotAllowed answers a method the route does not take, listing the ones it does.
func writeMethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	var body errorBody
	body.Error.Code, body.Error.Message = models.EINVALID, "Use "+strings.ReplaceAll(allow, ", ", " or ")+"."
	writeJSON(w, http.StatusMethodNotAllowed, body)
}

// discardLogger is the default of handlers configured without a logger.
func discardLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WhenReady serves with the handler get returns, and answers 503 (JSON, Retry-After) while
// get returns nil: for routes whose dependencies (the database) are not there yet.
func WhenReady(get func() http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := get(); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		writeError(w, r, nil, models.Errorf(models.EUNAVAILABLE, "The database is not reachable yet; try again in a moment."))
	})
}

// StatusOf returns the HTTP status of a domain error code: the console's error pages use the
// same mapping as the API.
func StatusOf(code string) int { return statusOf(code) }
