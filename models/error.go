// Package models holds adnet's domain: the entities of an ad network (advertisers, campaigns,
// creatives, publishers, sites, zones), the events it counts, and their validation rules.
// It imports nothing of the project; storage and transport packages import it.
package models

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. Transports map them to their own status codes in one
// place (HTTP: handlers); only EINTERNAL errors are logged, since the others are the caller's
// to fix and are reported back to them.
const (
	ECONFLICT     = "conflict"     // action conflicts with current state (duplicate name, stale version)
	EINTERNAL     = "internal"     // a bug or an infrastructure failure; details are logged, not shown
	EINVALID      = "invalid"      // the input does not pass validation
	ENOTFOUND     = "not_found"    // the entity does not exist (or is not visible to the caller)
	EUNAVAILABLE  = "unavailable"  // temporarily unable to serve: overload, draining, event log down
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, but not allowed
	ETOOMANY      = "too_many"     // throttled (e.g. repeated failed sign-ins): try again later
	ETOOLARGE     = "too_large"    // the request body or an upload exceeds its limit
	EUNSUPPORTED  = "unsupported"  // a content type the endpoint does not take
)

// Error is adnet's one error type. Code is machine-readable, Message is safe to show to the
// user who caused it. Wrap lower-level errors with fmt.Errorf("...: %w", err) instead when they
// are internal; ErrorCode reports those as EINTERNAL.
type Error struct {
	Code    string
	Message string
	// Field names the input field at fault (its JSON name), when there is one: forms show
	// the message next to it and the API returns it in "fields".
	Field string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("adnet error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns a new *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about the input field named field (its JSON name).
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Field: field}
}

// ErrorField returns the field of the first *Error in err's chain, "" when none is named.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the *Error's message, or a generic
// text for internal errors so that no internal detail leaks to clients.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
