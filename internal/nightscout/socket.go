package nightscout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/sio"
)

// The storage socket (lib/api3/storageSocket.js): Socket.IO's /storage
// namespace, where a client subscribes with an access token and then
// receives "create", "update" and "delete" events for the collections its
// token may read, each {colName, doc} (the document as API v3 renders it)
// or, for a deletion, {colName, identifier}. AndroidAPS's NSClient v3
// downloads only through it while its "Connect to websockets" setting is
// on (NSClientV3Service.kt @ 078ae353). The transport is internal/sio:
// Engine.IO v4 long-polling, which AndroidAPS's Socket.IO client starts
// with and keeps when no upgrade is offered.
//
// A site's socket is at the host's /socket.io/, with the namespace
// /storage, or /ns/{handle}/storage for a per-account address (the
// client takes the address's path as the namespace). A subscriber does
// not receive what other instances behind a load balancer stored until
// its next check (socketCheck), nor anything while disconnected:
// AndroidAPS reloads through API v3 each time it subscribes.

const (
	// maxSocketsPerAccount bounds the storage subscriptions of one
	// account (a phone with AndroidAPS, a second one, a follower app…).
	maxSocketsPerAccount = 10
	// socketCheck is how often a subscription looks for changes without
	// being told of any (writes on other instances).
	socketCheck = 30 * time.Second
	// socketBatch bounds the changes read per collection at a time.
	socketBatch = 100
)

// Messages of lib/api3/const.json.
const (
	msgSocketBadToken  = "Missing or bad accessToken"
	msgSocketNoneReads = "Unauthorized to receive any collection"
	msgSocketTooMany   = "Too many live connections for this account"
)

// socketHub counts the storage subscriptions per account.
type socketHub struct {
	mu        sync.Mutex
	byAccount map[string]int
}

// newSockets returns the Socket.IO server of the storage namespace.
func (a *API) newSockets() *sio.Server {
	a.subs = &socketHub{byAccount: map[string]int{}}
	return sio.NewServer(sio.Options{Connect: a.socketConnect,
		AddrOf: func(r *http.Request) string { return a.addrs.Addr(r).String() }})
}

// socketConnect accepts a connect to /storage or /ns/{handle}/storage.
// Credentials come with "subscribe", as in storageSocket.js; the
// connection itself is open to anyone, as Nightscout's is.
func (a *API) socketConnect(r *http.Request, so *sio.Socket, _ json.RawMessage) error {
	st := &storageSocket{a: a, so: so}
	if so.Namespace != "/storage" {
		rest, ok := strings.CutPrefix(so.Namespace, "/ns/")
		handle, ok2 := strings.CutSuffix(rest, "/storage")
		if !ok || !ok2 || strings.Contains(handle, "/") {
			return errors.New("Invalid namespace")
		}
		site, _, err := a.svc.NightscoutSiteAccess(r.Context(), handle)
		if err != nil {
			return errors.New("Invalid namespace")
		}
		st.site = site
	}
	so.On("subscribe", st.subscribe)
	return nil
}

// storageSocket is one client's /storage socket.
type storageSocket struct {
	a    *API
	so   *sio.Socket
	site *glucose.NightscoutSite // nil at the root namespace

	mu         sync.Mutex
	subscribed []string // the collections subscribed to, once subscribed
}

// subscribeMessage is what a client sends with "subscribe".
type subscribeMessage struct {
	AccessToken string          `json:"accessToken"`
	Collections json.RawMessage `json:"collections"`
}

type subscribeAnswer struct {
	Success     bool     `json:"success"`
	Collections []string `json:"collections,omitempty"`
	Message     string   `json:"message,omitempty"`
}

// subscribe is storageSocket.js's subscribe: the access token (or a JWT
// of one) resolves the account and its permissions, and the socket joins
// each asked collection (all, when none are named) the token may read —
// api:<collection>:read, api:settings:admin for settings.
func (st *storageSocket) subscribe(r *http.Request, args []json.RawMessage) []any {
	a := st.a
	refuse := func(msg string) []any { return []any{subscribeAnswer{Message: msg}} }
	var m subscribeMessage
	if len(args) == 0 || json.Unmarshal(args[0], &m) != nil || m.AccessToken == "" {
		return refuse(msgSocketBadToken)
	}
	c := a.newCall(nil, r)
	addr := a.addrs.Addr(r)
	if err := a.throttle.wait(c.ctx, addr); err != nil {
		return refuse(msgSocketBadToken)
	}
	acc, err := a.tokenAccess(c, m.AccessToken)
	if errors.Is(err, core.ErrNightscoutDenied) {
		a.throttle.failed(addr)
	}
	if err != nil || (st.site != nil && acc.AccountID != st.site.AccountID) {
		if err != nil && !errors.Is(err, core.ErrNightscoutDenied) {
			a.log.Warn("nightscout: storage socket subscription failed", "err", err)
		}
		return refuse(msgSocketBadToken)
	}
	var asked []string
	if json.Unmarshal(m.Collections, &asked) != nil {
		asked = nil
		for _, col := range v3Collections {
			asked = append(asked, col.name)
		}
	}
	// In the order asked, as the reference answers.
	var cols []v3Collection
	var names []string
	for _, name := range asked {
		i := slices.IndexFunc(v3Collections, func(col v3Collection) bool { return col.name == name })
		if i >= 0 && !slices.Contains(names, name) && acc.Permits(v3Collections[i].readPermission()) {
			cols = append(cols, v3Collections[i])
			names = append(names, name)
		}
	}
	if len(cols) == 0 {
		return refuse(msgSocketNoneReads)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.subscribed != nil {
		// One subscription per socket, which a client repeating itself is
		// told again; it subscribes anew on a new connection.
		return []any{subscribeAnswer{Success: true, Collections: st.subscribed}}
	}
	if !a.subs.take(acc.AccountID) {
		return refuse(msgSocketTooMany)
	}
	st.subscribed = names
	w := &socketWatch{a: a, so: st.so, token: m.AccessToken, accountID: acc.AccountID,
		cols: cols, cursor: map[string]int64{}, sentAt: map[string]map[string]bool{}}
	now := c.now.UnixMilli()
	for _, col := range cols {
		w.cursor[col.name] = now
	}
	go w.run()
	return []any{subscribeAnswer{Success: true, Collections: names}}
}

// take counts a subscription of the account; false when it has too many.
func (h *socketHub) take(accountID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byAccount[accountID] >= maxSocketsPerAccount {
		return false
	}
	h.byAccount[accountID]++
	return true
}

func (h *socketHub) release(accountID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byAccount[accountID]--; h.byAccount[accountID] <= 0 {
		delete(h.byAccount, accountID)
	}
}

// socketWatch sends one subscription its changes: API v3's history of
// each collection after a cursor, read when the account's data changed
// (the live-event hub) and every socketCheck.
type socketWatch struct {
	a         *API
	so        *sio.Socket
	token     string
	accountID string
	cols      []v3Collection
	cursor    map[string]int64
	// sentAt are the identifiers already sent whose srvModified is the
	// cursor: the next read starts at the cursor again, inclusive, so
	// that a change stored in the same millisecond is not skipped.
	sentAt map[string]map[string]bool
}

func (w *socketWatch) run() {
	defer w.a.subs.release(w.accountID)
	ctx := w.so.Context()
	var changed <-chan struct{}
	if hub := w.a.svc.Events(); hub != nil {
		stream := hub.Subscribe(w.accountID)
		defer stream.Close()
		ch := make(chan struct{}, 1)
		go func() {
			for ev := range stream.C {
				if ev.Type != events.TypeReading && ev.Type != events.TypeDocuments {
					continue // alarms change no data
				}
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}()
		changed = ch
	}
	tick := time.NewTicker(socketCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
		if !w.push(ctx) {
			w.so.Disconnect()
			return
		}
	}
}

// push sends what changed since the cursors. The token is resolved again
// each time, so a revoked token or an expired JWT stops the events; false
// then, or when the client's session is gone.
func (w *socketWatch) push(ctx context.Context) bool {
	c := &call{ctx: ctx, now: w.a.clock.Now()}
	acc, err := w.a.tokenAccess(c, w.token)
	if err != nil || acc.AccountID != w.accountID {
		if err != nil && !errors.Is(err, core.ErrNightscoutDenied) {
			w.a.log.Warn("nightscout: storage socket check failed", "err", err)
			return true
		}
		return false
	}
	for _, col := range w.cols {
		if !acc.Permits(col.readPermission()) {
			return false
		}
		for range 10 { // at most 10 batches at a time; the rest on the next check
			n, ok := w.pushBatch(ctx, acc, col)
			if !ok {
				return false
			}
			if n < socketBatch {
				break
			}
		}
	}
	return true
}

// pushBatch sends one batch of a collection's changes: a deleted document
// as "delete", one modified after its creation as "update", else
// "create" (generic/create, update, delete's bus events).
func (w *socketWatch) pushBatch(ctx context.Context, acc *core.NightscoutAccess, col v3Collection) (int, bool) {
	after := w.cursor[col.name]
	docs, _, err := w.a.changes(ctx, acc, col, after, true, socketBatch, nil)
	if err != nil {
		return 0, ctx.Err() == nil && !errors.Is(err, core.ErrNightscoutDenied)
	}
	sent := 0
	for _, o := range docs {
		id, _ := o.String("identifier")
		mod, _ := o.Number("srvModified")
		created, _ := o.Number("srvCreated")
		at := int64(mod)
		if at == after && w.sentAt[col.name][id] {
			continue
		}
		var err error
		switch {
		case string(o.Raw("isValid")) == "false":
			err = w.so.Emit("delete", socketDelete{ColName: col.name, Identifier: id})
		case created == mod:
			err = w.so.Emit("create", socketChange{ColName: col.name, Doc: json.RawMessage(o.Bytes())})
		default:
			err = w.so.Emit("update", socketChange{ColName: col.name, Doc: json.RawMessage(o.Bytes())})
		}
		if err != nil {
			return sent, false
		}
		sent++
		if at > w.cursor[col.name] {
			w.cursor[col.name] = at
			w.sentAt[col.name] = map[string]bool{}
		}
		if w.sentAt[col.name] == nil {
			w.sentAt[col.name] = map[string]bool{}
		}
		w.sentAt[col.name][id] = true
	}
	return len(docs), true
}

// socketChange is a create or update event's argument.
type socketChange struct {
	ColName string          `json:"colName"`
	Doc     json.RawMessage `json:"doc"`
}

// socketDelete is a delete event's argument.
type socketDelete struct {
	ColName    string `json:"colName"`
	Identifier string `json:"identifier"`
}
