package share

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestCodeHTTPStatus(t *testing.T) {
	tests := []struct {
		code Code
		want int
	}{
		{CodeAccountPasswordInvalid, 500},
		{CodeSSOMaxAttempts, 500},
		{CodeInvalidArgument, 500},
		{CodeSessionIDNotFound, 500},
		{CodeSessionNotValid, 500},
		{CodeMonitoredReceiverNotAssigned, 500},
		{CodeMonitoredReceiverSerialNumberDoesNotMatch, 500},
		{CodeSerialNumberAssignedToSomeoneElse, 500},
		{CodeMonitoringSessionNotActive, 500},
		{CodeFutureEgvPosted, 500},
		{CodeContactIDNotFound, 500},
		{CodeContactAlreadyDeleted, 500},
		{CodeContactNameAlreadyExists, 500},
		{CodeInvalidEmailAddress, 500},
		{CodeMaxFollowersExceeded, 500},
		{CodeSubscriptionIDNotFound, 500},
		{CodeSubscriptionNotActive, 500},
		{CodeSubscriptionNotPausableState, 500},
		{CodeSubscriptionNotPaused, 500},
		{CodeInvitationIDNotFound, 500},
		{CodeInvitationExpired, 500},
		{CodeInvitationAlreadyAccepted, 500},
		{CodeInvitationNotPending, 500},
		{CodeAlarmIDNotFound, 500},
		{CodeNamedValueReadFailed, 500},
		{CodeNamedValueCreateFailed, 500},
		{CodeNamedValueUpdateFailed, 500},
		{CodeImageNotFound, 404},
		{CodeEndpointNotFound, 404},
		{CodeMethodNotAllowed, 405},
		{CodeRequestTooLarge, 413},
		{CodeTooManyRequests, 429},
		{CodeUpstreamUnavailable, 502},
		{CodeServiceUnavailable, 503},
		{CodeInternalError, 500},
		{Code("SomethingElse"), 500},
	}
	for _, tt := range tests {
		if got := tt.code.HTTPStatus(); got != tt.want {
			t.Errorf("%s.HTTPStatus() = %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestCodeSpelling(t *testing.T) {
	tests := []struct {
		code Code
		want string
	}{
		{CodeSSOMaxAttempts, "SSO_AuthenticateMaxAttemptsExceeded"},
		{CodeSessionIDNotFound, "SessionIdNotFound"},
		{CodeContactIDNotFound, "ContactIdNotFound"},
		{CodeSubscriptionIDNotFound, "SubscriptionIdNotFound"},
		{CodeInvitationIDNotFound, "InvitationIdNotFound"},
		{CodeAlarmIDNotFound, "AlarmIdNotFound"},
		{CodeFutureEgvPosted, "FutureEgvPosted"},
		{CodeSSOMaxAttemptsMisspelt, "SSO_AuthenticateMaxAttemptsExceeed"},
	}
	for _, tt := range tests {
		if string(tt.code) != tt.want {
			t.Errorf("code = %q, want %q", tt.code, tt.want)
		}
	}
}

func TestAppendErrorBody(t *testing.T) {
	tests := []struct {
		in   *Error
		want string
	}{
		{
			&Error{Code: CodeSessionIDNotFound, Message: "Session not found. [SessionId = 3c348745-d2b3-4e3e-a8fe-306c0c18eae6]", SubCode: "a1f0c9e2-6b1d-4c55-9a57-0e2f5d1b7c44"},
			`{"Code":"SessionIdNotFound","Message":"Session not found. [SessionId = 3c348745-d2b3-4e3e-a8fe-306c0c18eae6]","SubCode":"a1f0c9e2-6b1d-4c55-9a57-0e2f5d1b7c44","TypeName":"FaultException"}`,
		},
		{
			&Error{Code: CodeInvalidArgument, Message: "say \"hi\"\\\n\t<b>&\x01\u2028\xff é", TypeName: "Other"},
			`{"Code":"InvalidArgument","Message":"say \"hi\"\\\n\t<b>&\u0001\u2028\ufffd é","SubCode":"","TypeName":"Other"}`,
		},
		{nil, `{"Code":"InternalError","Message":"","SubCode":"","TypeName":"FaultException"}`},
	}
	for _, tt := range tests {
		got := AppendErrorBody(nil, tt.in)
		if string(got) != tt.want {
			t.Errorf("AppendErrorBody = %s, want %s", got, tt.want)
		}
		var back Error
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendErrorBody = %s, not JSON: %v", got, err)
		} else if tt.in != nil && back.Message != stringsToValidUTF8(tt.in.Message) {
			t.Errorf("Message round trip = %q, want %q", back.Message, tt.in.Message)
		}
	}
}

// stringsToValidUTF8 mirrors what a JSON round trip does to invalid UTF-8.
func stringsToValidUTF8(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

func TestErrorJSONTags(t *testing.T) {
	b, err := json.Marshal(Error{Code: CodeSessionNotValid, Message: "m", SubCode: "s", TypeName: "FaultException"})
	want := `{"Code":"SessionNotValid","Message":"m","SubCode":"s","TypeName":"FaultException"}`
	if got := string(b); err != nil || got != want {
		t.Errorf("json.Marshal = %s, %v; want %s", got, err, want)
	}
	var e Error
	if err := json.Unmarshal([]byte(want), &e); err != nil || e.Code != CodeSessionNotValid || e.SubCode != "s" {
		t.Errorf("json.Unmarshal = %+v, %v", e, err)
	}
}

func TestErrorIs(t *testing.T) {
	wrapped := fmt.Errorf("read: %w", &Error{Code: CodeSessionNotValid, Message: "expired"})
	tests := []struct {
		err    error
		target error
		want   bool
	}{
		{wrapped, ErrSessionNotValid, true},
		{wrapped, &Error{Code: CodeSessionNotValid}, true},
		{wrapped, ErrSessionIDNotFound, false},
		{&Error{Code: CodeSessionIDNotFound}, ErrSessionIDNotFound, true},
		{&Error{Code: CodeAccountPasswordInvalid}, ErrAccountPasswordInvalid, true},
		{&Error{Code: CodeSSOMaxAttempts}, ErrMaxAttempts, true},
		{&Error{Code: CodeSSOMaxAttempts}, ErrAccountPasswordInvalid, false},
		{&Error{Code: CodeSSOMaxAttempts}, errors.New("SSO_AuthenticateMaxAttemptsExceeded"), false},
		{&Error{Code: CodeSSOMaxAttempts}, (*Error)(nil), false},
	}
	for _, tt := range tests {
		if got := errors.Is(tt.err, tt.target); got != tt.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Code: CodeSessionNotValid, Message: "expired"}, "SessionNotValid: expired"},
		{&Error{Code: CodeSessionNotValid}, "SessionNotValid"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
