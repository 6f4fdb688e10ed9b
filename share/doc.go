// Package share is a Go client for the Dexcom Share web service — Dexcom's
// hosted service in any region, or a glucoshare server — and the wire types
// both speak (PROTOCOL.md).
//
// The Client covers every call, publisher and follower: it logs in as
// pydexcom does (account name → account id → session), logs in again once
// when the server forgets the session, and honours Retry-After on 429 and
// 503. Errors from the server decode into *Error and match the sentinels
// with errors.Is (ErrSessionExpired, ErrAccountPasswordInvalid,
// ErrMaxAttempts).
//
// The wire types are shared with the server: the date codec (all input
// forms; the modern and the pre-2022 legacy output), trends, ISO-8601
// durations, identifiers, error codes, readings and alert settings.
package share
