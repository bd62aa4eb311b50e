package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The deliveries API: what GitHub recorded of each webhook delivery attempt,
// and asking it for another attempt. The App's webhook answers under
// /app/hook (App JWT only); a repository webhook (AddRepoHook) under
// /repos/{owner}/{repo}/hooks/{hook_id} (a token with admin access; an
// installation token is refused, the test App has no webhooks permission).
//
// The server has one sender: every attempt is listed under the App's hook
// (when the server has an App) and under the hook of the payload's
// repository (when it has one), with the same id. GitHub would make one
// attempt per hook; promobot configures one or the other.

// appHookID is the App webhook's id (X-GitHub-Hook-ID).
const appHookID = 1

// DeliveryRetention is how long a delivery can be redelivered (github.com's
// three days); an older one is refused with 422.
const DeliveryRetention = 3 * 24 * time.Hour

// hookDeliveryItem is GitHub's "hook-delivery-item" schema: every member it
// requires is present, the nullable ones as null.
type hookDeliveryItem struct {
	ID             int64   `json:"id"`
	GUID           string  `json:"guid"`
	DeliveredAt    string  `json:"delivered_at"`
	Redelivery     bool    `json:"redelivery"`
	Duration       float64 `json:"duration"`
	Status         string  `json:"status"`
	StatusCode     int     `json:"status_code"`
	Event          string  `json:"event"`
	Action         *string `json:"action"`
	InstallationID *int64  `json:"installation_id"`
	RepositoryID   *int64  `json:"repository_id"`
	ThrottledAt    *string `json:"throttled_at"`
}

// hookDelivery is the "hook-delivery" schema: the item plus the request and
// the response.
type hookDelivery struct {
	hookDeliveryItem
	URL     string `json:"url"`
	Request struct {
		Headers map[string]string `json:"headers"`
		Payload any               `json:"payload"`
	} `json:"request"`
	Response struct {
		Headers map[string]string `json:"headers"`
		Payload *string           `json:"payload"`
	} `json:"response"`
}

func deliveryItem(d *Delivery) hookDeliveryItem {
	it := hookDeliveryItem{
		ID: d.HookDeliveryID, GUID: d.ID, DeliveredAt: d.DeliveredAt.UTC().Format(time.RFC3339),
		Redelivery: d.Redelivery, Duration: float64(d.Duration.Milliseconds()) / 1000,
		Status: d.StatusText, StatusCode: d.Status, Event: d.Event,
	}
	if d.Action != "" {
		it.Action = &d.Action
	}
	if d.InstallationID != 0 {
		it.InstallationID = &d.InstallationID
	}
	if d.RepositoryID != 0 {
		it.RepositoryID = &d.RepositoryID
	}
	return it
}

func headerMap(h http.Header) map[string]string {
	if h == nil {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, vs := range h {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}

// hookFilter picks the attempts one hook made.
type hookFilter func(*Delivery) bool

func (s *Server) appHook() hookFilter {
	if s.cfg.AppID == 0 {
		return nil
	}
	return func(*Delivery) bool { return true }
}

// repoHook is the filter of repository hook id of c.repo, nil when it has none.
func (s *Server) repoHook(c *reqCtx) hookFilter {
	id, err := strconv.ParseInt(c.r.PathValue("hook_id"), 10, 64)
	name := strings.ToLower(c.repo.fullName())
	s.hooks.mu.Lock()
	have, ok := s.hooks.repoHooks[name]
	s.hooks.mu.Unlock()
	if err != nil || !ok || have != id {
		return nil
	}
	return func(d *Delivery) bool { return strings.EqualFold(d.Repo, name) }
}

// sentBy lists the attempts of one hook, newest first (the log is in id order).
func (s *Server) sentBy(f hookFilter) []*Delivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var out []*Delivery
	for i := len(s.hooks.log) - 1; i >= 0; i-- {
		d := s.hooks.log[i]
		if d.Sent && f(d) {
			c := *d
			out = append(out, &c)
		}
	}
	return out
}

// listDeliveries answers a deliveries listing: newest first, per_page (at
// most 100), the status filter by status_code range as documented (success:
// 200-399, failure: 400-599, so an attempt without an answer, status_code
// 0, is in neither), and cursor pagination: the Link header's rel="next"
// carries the cursor of the next page.
func (s *Server) listDeliveries(c *reqCtx, f hookFilter) {
	if f == nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	q := c.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	var keep func(code int) bool
	switch q.Get("status") {
	case "":
	case "success":
		keep = func(code int) bool { return code >= 200 && code <= 399 }
	case "failure":
		keep = func(code int) bool { return code >= 400 && code <= 599 }
	default:
		c.unprocessable("", fieldError{Resource: "HookDelivery", Field: "status", Code: "invalid",
			Message: "status must be one of: success, failure"})
		return
	}
	before := int64(-1) // ids below it; -1: from the newest
	if cur := q.Get("cursor"); cur != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(cur, "v1_"), 10, 64)
		if !strings.HasPrefix(cur, "v1_") || err != nil || n <= 0 {
			c.error(http.StatusBadRequest, "Invalid cursor")
			return
		}
		before = n
	}
	var page []hookDeliveryItem
	more := false
	for _, d := range s.sentBy(f) {
		if before >= 0 && d.HookDeliveryID >= before {
			continue
		}
		if keep != nil && !keep(d.Status) {
			continue
		}
		if len(page) == per {
			more = true
			break
		}
		page = append(page, deliveryItem(d))
	}
	if more {
		u := *c.r.URL
		qq := u.Query()
		qq.Set("cursor", "v1_"+strconv.FormatInt(page[len(page)-1].ID, 10))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		c.w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL(), u.RequestURI()))
	}
	if page == nil {
		page = []hookDeliveryItem{}
	}
	c.json(http.StatusOK, page)
}

// findDelivery is the attempt with the path's delivery_id that f made.
func (s *Server) findDelivery(c *reqCtx, f hookFilter) *Delivery {
	id, err := strconv.ParseInt(c.r.PathValue("delivery_id"), 10, 64)
	if f == nil || err != nil {
		return nil
	}
	for _, d := range s.sentBy(f) {
		if d.HookDeliveryID == id {
			return d
		}
	}
	return nil
}

func (s *Server) getDelivery(c *reqCtx, f hookFilter) {
	d := s.findDelivery(c, f)
	if d == nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	out := hookDelivery{hookDeliveryItem: deliveryItem(d), URL: d.url}
	out.Request.Headers = d.reqHeader
	var payload any
	if err := json.Unmarshal(d.Body, &payload); err == nil {
		out.Request.Payload = payload
	}
	out.Response.Headers = headerMap(d.respHeader)
	if d.Status != 0 {
		body := string(d.respBody)
		out.Response.Payload = &body
	}
	c.json(http.StatusOK, out)
}

// redeliver queues a new attempt of the delivery's event (same guid and
// body, redelivery true) and answers 202; an unknown id is 404, one older
// than DeliveryRetention 422.
func (s *Server) redeliver(c *reqCtx, f hookFilter) {
	d := s.findDelivery(c, f)
	if d == nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	if time.Since(d.DeliveredAt) > DeliveryRetention {
		c.unprocessable("", fieldError{Resource: "HookDelivery", Field: "delivered_at", Code: "invalid",
			Message: "delivery is too old to redeliver"})
		return
	}
	s.hooks.push(redelivery(d))
	c.json(http.StatusAccepted, struct{}{})
}

func (s *Server) handleListAppDeliveries(c *reqCtx)     { s.listDeliveries(c, s.appHook()) }
func (s *Server) handleGetAppDelivery(c *reqCtx)        { s.getDelivery(c, s.appHook()) }
func (s *Server) handleRedeliverAppDelivery(c *reqCtx)  { s.redeliver(c, s.appHook()) }
func (s *Server) handleListRepoDeliveries(c *reqCtx)    { s.repoHookCall(c, s.listDeliveries) }
func (s *Server) handleGetRepoDelivery(c *reqCtx)       { s.repoHookCall(c, s.getDelivery) }
func (s *Server) handleRedeliverRepoDelivery(c *reqCtx) { s.repoHookCall(c, s.redeliver) }

// repoHookCall refuses installation tokens (the test App has no webhooks
// permission), then answers for the repository hook of the path.
func (s *Server) repoHookCall(c *reqCtx, h func(*reqCtx, hookFilter)) {
	if c.p.kind == authInstallation {
		c.error(http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	h(c, s.repoHook(c))
}

// handleListRepoHooks lists the repository's webhook (AddRepoHook) in the
// "hook" schema, pointed at the configured webhook URL.
func (s *Server) handleListRepoHooks(c *reqCtx) {
	if c.p.kind == authInstallation {
		c.error(http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	s.hooks.mu.Lock()
	id, ok := s.hooks.repoHooks[strings.ToLower(c.repo.fullName())]
	target, secret := s.hooks.url, len(s.hooks.secret) > 0
	var last *Delivery
	for i := len(s.hooks.log) - 1; i >= 0 && ok; i-- {
		if d := s.hooks.log[i]; d.Sent && strings.EqualFold(d.Repo, c.repo.fullName()) {
			last = d
			break
		}
	}
	s.hooks.mu.Unlock()
	hooks := []map[string]any{}
	if ok {
		api := fmt.Sprintf("%srepos/%s/hooks/%d", s.APIURL(), c.repo.fullName(), id)
		config := map[string]any{"content_type": "json", "insecure_ssl": "0", "url": target}
		if secret {
			config["secret"] = "********"
		}
		lastResponse := map[string]any{"code": nil, "status": "unused", "message": nil}
		if last != nil {
			code := any(nil)
			if last.Status != 0 {
				code = last.Status
			}
			status := "active"
			if last.StatusText != StatusOK {
				status = "failed"
			}
			lastResponse = map[string]any{"code": code, "status": status, "message": last.StatusText}
		}
		created := appCreated.Format(time.RFC3339)
		hooks = append(hooks, map[string]any{
			"type": "Repository", "id": id, "name": "web", "active": true, "events": []string{"*"},
			"config": config, "created_at": created, "updated_at": created,
			"url": api, "test_url": api + "/test", "ping_url": api + "/pings", "deliveries_url": api + "/deliveries",
			"last_response": lastResponse,
		})
	}
	c.json(http.StatusOK, paginate(c, hooks))
}

// AddRepoHook adds a webhook to repo that delivers the repository's events
// to the configured webhook URL (SetWebhook), as a repository admin does in
// the repository's settings, and returns its id. Its deliveries are listed
// under GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries.
func (s *Server) AddRepoHook(repo string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return 0, fmt.Errorf("no repository %s", repo)
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	key := strings.ToLower(r.fullName())
	if id, ok := s.hooks.repoHooks[key]; ok {
		return id, nil
	}
	id := s.newID()
	s.hooks.repoHooks[key] = id
	return id, nil
}

// AgeDeliveries moves every recorded attempt d into the past, as if it had
// been made that much earlier (for tests of GitHub's retention).
func (s *Server) AgeDeliveries(d time.Duration) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	for _, x := range s.hooks.log {
		if !x.DeliveredAt.IsZero() {
			x.DeliveredAt = x.DeliveredAt.Add(-d)
		}
	}
}
