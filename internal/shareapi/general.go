package shareapi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// GET General/SystemUtcTime [observed]
// 200: {"DateTime":"/Date(1745081013817)/","OffsetMinutes":0} — the server's clock.
func (a *API) systemUTCTime(c *call) (reply, error) {
	return rawReply(share.AppendDateTime(nil, c.now.UnixMilli()))
}

// Login response formats (docs/protocol.md, "Login answer formats").
const (
	formatString = "string"
	formatObject = "object"
	formatText   = "text"
)

// loginFormat reads the format parameter of the four login calls.
func loginFormat(p *params) (string, error) {
	f, _, ok, err := p.String("format")
	if err != nil || !ok || f == "" {
		return formatString, err
	}
	switch f = strings.ToLower(f); f {
	case formatString, formatObject, formatText:
		return f, nil
	}
	return "", glucose.InvalidArgument("format must be string, object or text")
}

// idAnswer writes a login result in the requested format: a JSON string, an
// object with member (SessionId or AccountId), or bare text.
func idAnswer(format, member, id string) (reply, error) {
	switch format {
	case formatObject:
		return rawReply([]byte(`{"` + member + `":"` + id + `"}`))
	case formatText:
		return reply{contentType: "text/plain; charset=utf-8", body: []byte(id)}, nil
	}
	return idReply(id)
}

// credentials reads the login parameters. ByName calls take accountName,
// ById calls accountId; both take password and applicationId.
func credentials(p *params, byID bool) (core.Credentials, error) {
	var c core.Credentials
	var err error
	c.ByID = byID
	if byID {
		if c.ID, _, _, err = p.String("accountId"); err != nil {
			return c, err
		}
	} else if c.Name, c.NameIsNumber, _, err = p.String("accountName"); err != nil {
		return c, err
	}
	if c.Password, _, _, err = p.String("password"); err != nil {
		return c, err
	}
	c.ApplicationID, _, _, _ = p.String("applicationId") // kept as text of 64 bytes at most (core)
	return c, nil
}

// throttled adds what login throttling needs to credentials: the client's
// address and, as a glucoshare extension, a sessionId sent along — a
// session of the account that was valid recently keeps its logins apart
// from every address's failures (core/throttle.go).
func (a *API) throttled(c *call, cred core.Credentials) core.Credentials {
	cred.Addr = a.addrs.Addr(c.r)
	cred.SessionHint, _, _, _ = c.p.String("sessionId")
	return cred
}

// POST General/LoginPublisherAccountByName [observed]
// 200: a new session id. Errors: InvalidArgument, AccountPasswordInvalid,
// SSO_AuthenticateMaxAttemptsExceeded.
func (a *API) loginByName(c *call) (reply, error) {
	return a.login(c, c.p, false)
}

// POST General/LoginPublisherAccountById [observed]
// 200: a new session id.
func (a *API) loginByID(c *call) (reply, error) {
	return a.login(c, c.p, true)
}

// POST General/LoginSubscriberAccount [observed; accountName is a glucoshare extension]
// accountName is used only when accountId is absent, null or "".
func (a *API) loginSubscriber(c *call) (reply, error) {
	id, _, _, err := c.p.String("accountId")
	if err != nil {
		return reply{}, err
	}
	name, _, _, err := c.p.String("accountName")
	if err != nil {
		return reply{}, err
	}
	return a.login(c, c.p, id != "" || strings.TrimSpace(name) == "")
}

func (a *API) login(c *call, p *params, byID bool) (reply, error) {
	format, err := loginFormat(c.p)
	if err != nil {
		return reply{}, err
	}
	cred, err := credentials(p, byID)
	if err != nil {
		return reply{}, err
	}
	sess, err := a.svc.Login(c.ctx, a.throttled(c, cred), c.now)
	if err != nil {
		return reply{}, err
	}
	return idAnswer(format, "SessionId", sess.ID)
}

// POST General/AuthenticatePublisherAccount [observed]
// 200: the account id. It creates no session. Query parameters are ignored
// (xDrip+'s uploader adds sessionId and serialNumber).
func (a *API) authenticate(c *call) (reply, error) {
	format, err := loginFormat(c.p)
	if err != nil {
		return reply{}, err
	}
	bodyOnly := *c.p
	bodyOnly.query = nil
	cred, err := credentials(&bodyOnly, false)
	if err != nil {
		return reply{}, err
	}
	acct, err := a.svc.Authenticate(c.ctx, a.throttled(c, cred), c.now)
	if err != nil {
		return reply{}, err
	}
	return idAnswer(format, "AccountId", acct.ID)
}

// partition reads partitionId: any UUID.
func partition(p *params) (string, error) {
	raw, _, ok, err := p.String("partitionId")
	if err != nil {
		return "", err
	}
	id, valid := share.ParseID(raw)
	if !ok || !valid {
		return "", glucose.InvalidArgument("partitionId must be an id in the 36-character form")
	}
	return id, nil
}

// namedValueArgs reads partitionId, name and (when withValue) value. A
// value that is not a JSON string is stored as its compact JSON text.
func namedValueArgs(p *params, withValue bool) (part, name, value string, err error) {
	if part, err = partition(p); err != nil {
		return
	}
	name, _, ok, err := p.String("name")
	if err != nil {
		return
	}
	if !ok || name == "" {
		err = glucose.InvalidArgument("name must not be empty")
		return
	}
	if !withValue {
		return
	}
	value, err = namedValueText(p)
	return
}

func namedValueText(p *params) (string, error) {
	text, raw, fromJSON, ok, err := p.lookup("value")
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", glucose.InvalidArgument("value is missing")
	case !fromJSON:
		return text, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", glucose.InvalidArgument("value is not valid JSON")
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", glucose.InvalidArgument("value is not valid JSON")
	}
	return buf.String(), nil
}

// POST General/CreateNamedValue [official-app]
// creates or overwrites; NamedValueCreateFailed beyond the limit.
func (a *API) createNamedValue(c *call) (reply, error) {
	return a.putNamedValue(c, share.CodeNamedValueCreateFailed)
}

// POST General/UpdateNamedValue [official-app]
// overwrites or creates; NamedValueUpdateFailed beyond the limit.
func (a *API) updateNamedValue(c *call) (reply, error) {
	return a.putNamedValue(c, share.CodeNamedValueUpdateFailed)
}

func (a *API) putNamedValue(c *call, failCode share.Code) (reply, error) {
	part, name, value, err := namedValueArgs(c.p, true)
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.PutNamedValue(c.ctx, c.acct.ID, part, name, value, failCode); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// GET General/ReadNamedValue [official-app]
// 200: "…"; NamedValueReadFailed if absent.
func (a *API) readNamedValue(c *call) (reply, error) {
	part, name, _, err := namedValueArgs(c.p, false)
	if err != nil {
		return reply{}, err
	}
	v, err := a.svc.NamedValue(c.ctx, c.acct.ID, part, name)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(v)
}

// GET General/ListValueNames [official-app]
// 200: ["a","b"] — names sorted by byte order; [] if none.
func (a *API) listValueNames(c *call) (reply, error) {
	part, err := partition(c.p)
	if err != nil {
		return reply{}, err
	}
	names, err := a.svc.NamedValueNames(c.ctx, c.acct.ID, part)
	if err != nil {
		return reply{}, err
	}
	if names == nil {
		names = []string{}
	}
	return jsonReply(names)
}

// POST General/DeleteAllNamedValues [official-app]
// deletes the partition's values; returns how many.
func (a *API) deleteAllNamedValues(c *call) (reply, error) {
	part, err := partition(c.p)
	if err != nil {
		return reply{}, err
	}
	n, err := a.svc.DeleteNamedValues(c.ctx, c.acct.ID, part)
	if err != nil {
		return reply{}, err
	}
	return intReply(n)
}
