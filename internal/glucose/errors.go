package glucose

import (
	"errors"
	"fmt"

	"github.com/glucoshare/glucoshare/share"
)

// Storage errors. Every Store implementation translates its driver's errors
// into these, by error code and never by message text.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule was violated (a name or serial
	// already taken, a row already present).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means storage cannot be reached or is shutting down.
	ErrUnavailable = errors.New("storage unavailable")
)

// Error is a failure the protocol can describe: it carries the Code clients
// branch on and the Message shown to people. Handlers turn it into the
// four-member error body; any other error becomes InternalError.
type Error struct {
	Code    share.Code
	Message string
	// RetryAfter, in seconds, is sent as a Retry-After header when positive
	// (lockout, rate limits, unavailability).
	RetryAfter int
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code share.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the protocol code of err: its own for an *Error anywhere
// in the chain, ServiceUnavailable for ErrUnavailable, InternalError
// otherwise.
func ErrorCode(err error) share.Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrUnavailable):
		return share.CodeServiceUnavailable
	default:
		return share.CodeInternalError
	}
}

// InvalidArgument reports a missing or malformed parameter. The message must
// name the parameter (docs/protocol.md, "Errors").
func InvalidArgument(format string, args ...any) *Error {
	return Errorf(share.CodeInvalidArgument, format, args...)
}
