package share

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Code is the Code member of an error body (docs/protocol.md, "Errors"); clients
// branch on it.
type Code string

// The codes glucoshare emits, in the order of the docs/protocol.md, "Errors" table.
const (
	CodeAccountPasswordInvalid                    Code = "AccountPasswordInvalid"
	CodeSSOMaxAttempts                            Code = "SSO_AuthenticateMaxAttemptsExceeded"
	CodeInvalidArgument                           Code = "InvalidArgument"
	CodeSessionIDNotFound                         Code = "SessionIdNotFound"
	CodeSessionNotValid                           Code = "SessionNotValid"
	CodeMonitoredReceiverNotAssigned              Code = "MonitoredReceiverNotAssigned"
	CodeMonitoredReceiverSerialNumberDoesNotMatch Code = "MonitoredReceiverSerialNumberDoesNotMatch"
	CodeSerialNumberAssignedToSomeoneElse         Code = "SerialNumberAssignedToSomeoneElse"
	CodeMonitoringSessionNotActive                Code = "MonitoringSessionNotActive"
	CodeFutureEgvPosted                           Code = "FutureEgvPosted"
	CodeContactIDNotFound                         Code = "ContactIdNotFound"
	CodeContactAlreadyDeleted                     Code = "ContactAlreadyDeleted"
	CodeContactNameAlreadyExists                  Code = "ContactNameAlreadyExists"
	CodeInvalidEmailAddress                       Code = "InvalidEmailAddress"
	CodeMaxFollowersExceeded                      Code = "MaxFollowersExceeded"
	CodeSubscriptionIDNotFound                    Code = "SubscriptionIdNotFound"
	CodeSubscriptionNotActive                     Code = "SubscriptionNotActive"
	CodeSubscriptionNotPausableState              Code = "SubscriptionNotPausableState"
	CodeSubscriptionNotPaused                     Code = "SubscriptionNotPaused"
	CodeInvitationIDNotFound                      Code = "InvitationIdNotFound"
	CodeInvitationExpired                         Code = "InvitationExpired"
	CodeInvitationAlreadyAccepted                 Code = "InvitationAlreadyAccepted"
	CodeInvitationNotPending                      Code = "InvitationNotPending"
	CodeAlarmIDNotFound                           Code = "AlarmIdNotFound"
	CodeNamedValueReadFailed                      Code = "NamedValueReadFailed"
	CodeNamedValueCreateFailed                    Code = "NamedValueCreateFailed"
	CodeNamedValueUpdateFailed                    Code = "NamedValueUpdateFailed"
	CodeImageNotFound                             Code = "ImageNotFound"
	CodeEndpointNotFound                          Code = "EndpointNotFound"
	CodeMethodNotAllowed                          Code = "MethodNotAllowed"
	CodeRequestTooLarge                           Code = "RequestTooLarge"
	CodeTooManyRequests                           Code = "TooManyRequests"
	CodeUpstreamUnavailable                       Code = "UpstreamUnavailable"
	CodeServiceUnavailable                        Code = "ServiceUnavailable"
	CodeInternalError                             Code = "InternalError"
)

// Codes glucoshare never emits but other Share servers (the hosted service
// among them) do; the client recognises them (docs/protocol.md, "Errors").
const (
	CodeDuplicateEgvPosted             Code = "DuplicateEgvPosted"
	CodeMonitoringSessionAlreadyActive Code = "MonitoringSessionAlreadyActive"
	CodeSerialNumberAssignedToYou      Code = "SerialNumberAssignedToYou"
	CodeSSOAccountNotFound             Code = "SSO_AuthenticateAccountNotFound"
	CodeSSOPasswordInvalid             Code = "SSO_AuthenticatePasswordInvalid"
	CodeSSOInternalError               Code = "SSO_InternalError"
	// CodeSSOMaxAttemptsMisspelt is the three-e spelling some servers send.
	CodeSSOMaxAttemptsMisspelt Code = "SSO_AuthenticateMaxAttemptsExceeed"
)

// HTTPStatus returns the status an error with this code is sent with:
// 500 unless the docs/protocol.md, "Errors" table says otherwise.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeImageNotFound, CodeEndpointNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeUpstreamUnavailable:
		return http.StatusBadGateway
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is the error body of docs/protocol.md, "Errors": exactly four string members, in this
// order. The client decodes server errors into it.
type Error struct {
	Code     Code   `json:"Code"`
	Message  string `json:"Message"`  // English, for people; never a password
	SubCode  string `json:"SubCode"`  // glucoshare: the request id
	TypeName string `json:"TypeName"` // always "FaultException" from glucoshare
}

// Sentinels for errors.Is, which matches an *Error on Code alone.
var (
	ErrSessionNotValid        = &Error{Code: CodeSessionNotValid}
	ErrSessionIDNotFound      = &Error{Code: CodeSessionIDNotFound}
	ErrAccountPasswordInvalid = &Error{Code: CodeAccountPasswordInvalid}
	ErrMaxAttempts            = &Error{Code: CodeSSOMaxAttempts}
)

// Error implements error as "Code: Message".
func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrSessionNotValid) holds whatever the Message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e.Code == t.Code
}

// AppendErrorBody appends the compact error body of e. An empty TypeName is
// written as "FaultException"; a nil e as a bare InternalError.
func AppendErrorBody(dst []byte, e *Error) []byte {
	if e == nil {
		e = &Error{Code: CodeInternalError}
	}
	typeName := e.TypeName
	if typeName == "" {
		typeName = "FaultException"
	}
	dst = append(dst, `{"Code":`...)
	dst = appendJSONString(dst, string(e.Code))
	dst = append(dst, `,"Message":`...)
	dst = appendJSONString(dst, e.Message)
	dst = append(dst, `,"SubCode":`...)
	dst = appendJSONString(dst, e.SubCode)
	dst = append(dst, `,"TypeName":`...)
	dst = appendJSONString(dst, typeName)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string. Like encoding/json it
// replaces invalid UTF-8 with U+FFFD and escapes U+2028 and U+2029, which
// break JavaScript; unlike it, it leaves <, > and & alone.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			dst = appendASCIIEscaped(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, `\u202`...)
			dst = strconv.AppendInt(dst, int64(r&0xf), 16)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// appendASCIIEscaped appends one ASCII byte of a JSON string's text.
func appendASCIIEscaped(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch {
	case c == '"' || c == '\\':
		return append(dst, '\\', c)
	case c == '\n':
		return append(dst, `\n`...)
	case c == '\r':
		return append(dst, `\r`...)
	case c == '\t':
		return append(dst, `\t`...)
	case c < 0x20:
		return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
	}
	return append(dst, c)
}
