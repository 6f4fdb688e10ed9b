package share

import (
	"context"
	"time"
)

// The General area (docs/protocol.md, "General"): server time, the four login calls,
// subscription alerts and pausing, and named values.

// OfficialPartition is the named-value partition the official uploader
// keeps its settings in (docs/protocol.md, "General").
const OfficialPartition = "8d61be97-5cc9-4428-9823-1e3b97c36262"

// SystemUTCTime returns the server's clock (GET General/SystemUtcTime). It
// needs no session.
func (c *Client) SystemUTCTime(ctx context.Context) (time.Time, error) {
	const ep = "General/SystemUtcTime"
	resp, err := c.send(ctx, get(ep, nil))
	if err != nil {
		return time.Time{}, err
	}
	var dt DateTime
	if err := decodeJSON(ep, resp.body, &dt); err != nil {
		return time.Time{}, err
	}
	return dt.Time(), nil
}

// loginBody is the body of every login call; exactly one of the first two
// members is set.
type loginBody struct {
	AccountName   string `json:"accountName,omitempty"`
	AccountID     string `json:"accountId,omitempty"`
	Password      string `json:"password"`
	ApplicationID string `json:"applicationId"`
}

// Login logs in with the client's credentials by its LoginMethod and keeps
// the new session. Calls log in by themselves when needed; Login is for
// checking credentials up front.
func (c *Client) Login(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	_, err := c.login(ctx)
	return err
}

// login runs the login calls; the caller holds loginMu.
func (c *Client) login(ctx context.Context) (string, error) {
	c.mu.Lock()
	name, account, secret, method := c.name, c.account, c.secret, c.method
	c.mu.Unlock()
	if secret == "" || (name == "" && account == "") {
		return "", ErrNoCredentials
	}
	var sid string
	var err error
	switch {
	case method == LoginPublisherByName && name != "":
		sid, err = c.loginCall(ctx, "General/LoginPublisherAccountByName", loginBody{AccountName: name, Password: secret})
	case method == LoginSubscriber:
		sid, err = c.loginCall(ctx, "General/LoginSubscriberAccount", loginBody{AccountID: account, AccountName: name, Password: secret})
	default:
		if account == "" {
			if account, err = c.AuthenticatePublisherAccount(ctx); err != nil {
				return "", err
			}
		}
		sid, err = c.loginCall(ctx, "General/LoginPublisherAccountById", loginBody{AccountID: account, Password: secret})
	}
	if err != nil {
		return "", err
	}
	c.setSession(sid)
	return sid, nil
}

// loginCall posts credentials to a login endpoint and reads the id it
// answers, rejecting the zero id (docs/protocol.md, "Credential checks").
func (c *Client) loginCall(ctx context.Context, ep string, body loginBody) (string, error) {
	if body.AccountID != "" {
		body.AccountName = "" // LoginSubscriberAccount uses accountName only without an id
	}
	body.ApplicationID = c.appID
	resp, err := c.send(ctx, post(ep, nil, mustJSON(body)))
	if err != nil {
		return "", err
	}
	return decodeID(ep, resp.body)
}

// AuthenticatePublisherAccount checks the client's account name and
// password and returns the account id, which the client keeps for later
// logins. It creates no session.
func (c *Client) AuthenticatePublisherAccount(ctx context.Context) (string, error) {
	c.mu.Lock()
	name, secret := c.name, c.secret
	c.mu.Unlock()
	if name == "" || secret == "" {
		return "", ErrNoCredentials
	}
	id, err := c.loginCall(ctx, "General/AuthenticatePublisherAccount", loginBody{AccountName: name, Password: secret})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.account = id
	c.mu.Unlock()
	return id, nil
}

// ReadSubscriptionAlerts returns a subscription's current alert settings,
// for its publisher or subscriber (POST General/ReadSubscriptionAlerts).
func (c *Client) ReadSubscriptionAlerts(ctx context.Context, subscriptionID string) (AlertSettings, error) {
	var s AlertSettings
	err := c.callJSON(ctx, post("General/ReadSubscriptionAlerts", q("subscriptionId", subscriptionID), nil), &s)
	return s, err
}

// PauseSubscription pauses a subscription, as its publisher or subscriber
// (POST General/PauseSubscription).
func (c *Client) PauseSubscription(ctx context.Context, subscriptionID string) error {
	return c.callVoid(ctx, post("General/PauseSubscription", q("subscriptionId", subscriptionID), nil))
}

// ResumeSubscription resumes a subscription the caller paused
// (POST General/ResumeSubscription).
func (c *Client) ResumeSubscription(ctx context.Context, subscriptionID string) error {
	return c.callVoid(ctx, post("General/ResumeSubscription", q("subscriptionId", subscriptionID), nil))
}

// namedValueBody is the body of CreateNamedValue and UpdateNamedValue.
type namedValueBody struct {
	PartitionID string `json:"partitionId"`
	Name        string `json:"name"`
	Value       string `json:"value"`
}

// CreateNamedValue stores value under name in a partition, creating or
// overwriting it (POST General/CreateNamedValue).
func (c *Client) CreateNamedValue(ctx context.Context, partitionID, name, value string) error {
	body := mustJSON(namedValueBody{partitionID, name, value})
	return c.callVoid(ctx, post("General/CreateNamedValue", nil, body))
}

// UpdateNamedValue overwrites or creates a named value
// (POST General/UpdateNamedValue).
func (c *Client) UpdateNamedValue(ctx context.Context, partitionID, name, value string) error {
	body := mustJSON(namedValueBody{partitionID, name, value})
	return c.callVoid(ctx, post("General/UpdateNamedValue", nil, body))
}

// ReadNamedValue returns a named value (GET General/ReadNamedValue); an
// absent name answers NamedValueReadFailed.
func (c *Client) ReadNamedValue(ctx context.Context, partitionID, name string) (string, error) {
	return c.callString(ctx, get("General/ReadNamedValue", q("partitionId", partitionID, "name", name)))
}

// ListValueNames returns a partition's names in byte order
// (GET General/ListValueNames).
func (c *Client) ListValueNames(ctx context.Context, partitionID string) ([]string, error) {
	names := []string{}
	err := c.callJSON(ctx, get("General/ListValueNames", q("partitionId", partitionID)), &names)
	return names, err
}

// DeleteAllNamedValues deletes a partition's values and returns how many
// there were (POST General/DeleteAllNamedValues).
func (c *Client) DeleteAllNamedValues(ctx context.Context, partitionID string) (int, error) {
	const ep = "General/DeleteAllNamedValues"
	resp, err := c.call(ctx, post(ep, q("partitionId", partitionID), nil))
	if err != nil {
		return 0, err
	}
	return decodeInt(ep, resp.body)
}
