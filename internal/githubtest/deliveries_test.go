package githubtest

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
)

// The members GitHub's OpenAPI description requires of a "hook-delivery-item"
// (a listing's entries) and of a "hook-delivery" (one delivery).
var (
	deliveryItemRequired = []string{"id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code",
		"event", "action", "installation_id", "repository_id"}
	deliveryRequired = append(slices.Clone(deliveryItemRequired), "request", "response")
)

// closedURL is a URL nothing listens on: connecting is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/webhook"
	_ = ln.Close()
	return u
}

// outcomes makes four deliveries: answered 202, answered 503, not
// connected, timed out; newest last.
func outcomes(t *testing.T, e *env) []Delivery {
	t.Helper()
	commit := func(n string) {
		t.Helper()
		if _, err := e.s.Commit(testRepo, "main", map[string]*string{n: github.String(n)}, n); err != nil {
			t.Fatal(err)
		}
		e.wait()
	}
	commit("ok")
	e.hook.mu.Lock()
	e.hook.code = http.StatusServiceUnavailable
	e.hook.mu.Unlock()
	commit("unavailable")
	e.s.SetWebhook(closedURL(t), []byte(testSecret))
	commit("refused")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newBlockingServer(t, &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release })})
	e.s.SetWebhook(slow, []byte(testSecret))
	e.s.SetWebhookTimeout(50 * time.Millisecond)
	commit("slow")
	e.s.SetWebhook(e.hook.srv.URL, []byte(testSecret))
	e.s.SetWebhookTimeout(githubHookTimeout)
	e.hook.mu.Lock()
	e.hook.code = http.StatusAccepted
	e.hook.mu.Unlock()
	return e.s.Deliveries()
}

func TestDeliveryOutcomesAsGitHubRecordsThem(t *testing.T) {
	e := newEnv(t)
	ds := outcomes(t, e)
	want := []struct {
		code int
		text string
	}{{202, StatusOK}, {503, "Invalid HTTP Response: 503"}, {0, StatusConnectFailed}, {0, StatusTimedOut}}
	if len(ds) != len(want) {
		t.Fatalf("%d deliveries, want %d: %+v", len(ds), len(want), ds)
	}
	for i, w := range want {
		d := ds[i]
		if d.Status != w.code || d.StatusText != w.text || !d.Sent || d.Event != "push" || d.Repo != testRepo || d.DeliveredAt.IsZero() {
			t.Errorf("delivery %d = status %d %q sent %v event %s repo %s at %v, want %d %q", i, d.Status, d.StatusText, d.Sent, d.Event, d.Repo, d.DeliveredAt, w.code, w.text)
		}
		if i > 0 && d.HookDeliveryID <= ds[i-1].HookDeliveryID {
			t.Errorf("delivery ids do not grow: %d after %d", d.HookDeliveryID, ds[i-1].HookDeliveryID)
		}
	}
}

func TestAppHookDeliveriesAPI(t *testing.T) {
	e := newEnv(t)
	ds := outcomes(t, e)
	gh := e.appClient()

	// Newest first, two a page, the Link header's cursor to the next page.
	var got []*github.HookDelivery
	opts := &github.ListCursorOptions{PerPage: 2}
	for pages := 0; ; pages++ {
		page, resp, err := gh.Apps.ListHookDeliveries(e.ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if resp.Cursor == "" {
			if pages != 1 {
				t.Errorf("%d pages, want 2", pages+1)
			}
			break
		}
		if !regexp.MustCompile(`^<http://127\.0\.0\.1:\d+/api/v3/app/hook/deliveries\?cursor=v1_\d+&per_page=2>; rel="next"$`).MatchString(resp.Header.Get("Link")) {
			t.Errorf("Link = %q", resp.Header.Get("Link"))
		}
		opts.Cursor = resp.Cursor
	}
	if len(got) != 4 {
		t.Fatalf("listed %d deliveries, want 4", len(got))
	}
	for i, d := range got {
		w := ds[len(ds)-1-i]
		if d.GetID() != w.HookDeliveryID || d.GetGUID() != w.ID || d.GetStatus() != w.StatusText || d.GetStatusCode() != w.Status ||
			d.GetEvent() != "push" || d.GetRedelivery() || d.GetRepositoryID() == 0 || d.GetDeliveredAt().IsZero() {
			t.Errorf("listed #%d = %+v, want %+v", i, d, w)
		}
	}

	// Every member GitHub requires, the nullable ones as null.
	_, _, body := e.raw("GET", "/api/v3/app/hook/deliveries", "Bearer "+e.jwt(), "")
	var items []map[string]any
	if err := json.Unmarshal(body, &items); err != nil || len(items) != 4 {
		t.Fatalf("listing = %s, %v", body, err)
	}
	for _, it := range items {
		for _, k := range deliveryItemRequired {
			if _, ok := it[k]; !ok {
				t.Errorf("listing entry lacks %q: %v", k, it)
			}
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(it["delivered_at"].(string)) {
			t.Errorf("delivered_at = %v", it["delivered_at"])
		}
	}

	// status=failure is 400-599: the answered 503 only, not the attempts
	// without an answer (status_code 0).
	code, _, body := e.raw("GET", "/api/v3/app/hook/deliveries?status=failure", "Bearer "+e.jwt(), "")
	if err := json.Unmarshal(body, &items); code != 200 || err != nil || len(items) != 1 || items[0]["status_code"] != float64(503) {
		t.Errorf("status=failure: %d %s", code, body)
	}
	if code, _, _ := e.raw("GET", "/api/v3/app/hook/deliveries?status=broken", "Bearer "+e.jwt(), ""); code != 422 {
		t.Errorf("status=broken: %d, want 422", code)
	}
	if code, _, _ := e.raw("GET", "/api/v3/app/hook/deliveries?cursor=nonsense", "Bearer "+e.jwt(), ""); code != 400 {
		t.Errorf("bad cursor: %d, want 400", code)
	}

	// One delivery: the request GitHub sent and the answer it got.
	one, _, err := gh.Apps.GetHookDelivery(e.ctx, ds[1].HookDeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if one.GetStatusCode() != 503 || one.Request.Headers["X-GitHub-Delivery"] != ds[1].ID || one.Request.Headers["X-GitHub-Event"] != "push" ||
		!strings.HasPrefix(one.Request.Headers["X-Hub-Signature-256"], "sha256=") || one.Request.RawPayload == nil {
		t.Errorf("delivery = %+v, request %+v", one, one.Request)
	}
	_, _, body = e.raw("GET", "/api/v3/app/hook/deliveries/"+itoa(ds[2].HookDeliveryID), "Bearer "+e.jwt(), "")
	var full map[string]any
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	for _, k := range deliveryRequired {
		if _, ok := full[k]; !ok {
			t.Errorf("delivery lacks %q: %s", k, body)
		}
	}
	if resp := full["response"].(map[string]any); resp["payload"] != nil {
		t.Errorf("a delivery without an answer has a response payload: %v", resp)
	}

	// Redeliver: 202, then a new attempt of the same event.
	if _, _, err := gh.Apps.RedeliverHookDelivery(e.ctx, ds[2].HookDeliveryID); !errors.As(err, new(*github.AcceptedError)) {
		t.Fatalf("redeliver: %v, want 202 Accepted", err)
	}
	e.wait()
	all := e.s.Deliveries()
	last := all[len(all)-1]
	if len(all) != 5 || last.ID != ds[2].ID || !last.Redelivery || last.StatusText != StatusOK || last.HookDeliveryID <= ds[3].HookDeliveryID {
		t.Errorf("redelivery = %+v", last)
	}
	rs := e.hook.all()
	if r := rs[len(rs)-1]; r.ID != ds[2].ID || string(r.Body) != string(ds[2].Body) {
		t.Errorf("redelivered %s, want %s with the same body", r.ID, ds[2].ID)
	}
	top, _, err := gh.Apps.ListHookDeliveries(e.ctx, &github.ListCursorOptions{PerPage: 1})
	if err != nil || len(top) != 1 || !top[0].GetRedelivery() || top[0].GetGUID() != ds[2].ID {
		t.Errorf("newest listed = %+v, %v", top, err)
	}

	// Unknown, too old, not a JWT.
	if _, _, err := gh.Apps.RedeliverHookDelivery(e.ctx, 12345); !isStatus(err, 404) {
		t.Errorf("unknown delivery: %v", err)
	}
	e.s.AgeDeliveries(DeliveryRetention + time.Hour)
	if _, _, err := gh.Apps.RedeliverHookDelivery(e.ctx, ds[0].HookDeliveryID); !isStatus(err, 422) {
		t.Errorf("delivery older than the retention: %v", err)
	}
	if code, _, _ := e.raw("GET", "/api/v3/app/hook/deliveries", "token "+testStatic, ""); code != 401 {
		t.Errorf("listing with a token: %d, want 401", code)
	}
	for _, err := range CheckCalls(e.s.Calls()) {
		t.Error(err)
	}
}

func TestRepoHookDeliveriesAPI(t *testing.T) {
	e := newEnv(t)
	if err := e.s.CreateRepo("acme/other", "main", map[string]string{"x": "x\n"}); err != nil {
		t.Fatal(err)
	}
	id, err := e.s.AddRepoHook(testRepo)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.s.AddRepoHook(testRepo); again != id {
		t.Errorf("AddRepoHook twice: %d then %d", id, again)
	}
	ds := outcomes(t, e)
	if _, err := e.s.Commit("acme/other", "main", map[string]*string{"y": github.String("y")}, "y"); err != nil {
		t.Fatal(err)
	}
	e.wait()
	gh := e.tokenClient(testStatic)
	hooks, _, err := gh.Repositories.ListHooks(e.ctx, "acme", "gitops", nil)
	if err != nil || len(hooks) != 1 || hooks[0].GetID() != id || hooks[0].GetConfig().GetURL() != e.hook.srv.URL || !hooks[0].GetActive() {
		t.Fatalf("hooks = %+v, %v", hooks, err)
	}
	if other, _, err := gh.Repositories.ListHooks(e.ctx, "acme", "other", nil); err != nil || len(other) != 0 {
		t.Errorf("hooks of a repository without one = %+v, %v", other, err)
	}
	list, _, err := gh.Repositories.ListHookDeliveries(e.ctx, "acme", "gitops", id, &github.ListCursorOptions{PerPage: 100})
	if err != nil || len(list) != len(ds) {
		t.Fatalf("deliveries = %d, %v; want only the %d of acme/gitops", len(list), err, len(ds))
	}
	if _, _, err := gh.Repositories.RedeliverHookDelivery(e.ctx, "acme", "gitops", id, ds[2].HookDeliveryID); !errors.As(err, new(*github.AcceptedError)) {
		t.Fatalf("redeliver: %v", err)
	}
	e.wait()
	if _, _, err := gh.Repositories.ListHookDeliveries(e.ctx, "acme", "gitops", id+1, nil); !isStatus(err, 404) {
		t.Errorf("another hook id: %v", err)
	}
	inst, _ := e.installationClient()
	if _, _, err := inst.Repositories.ListHooks(e.ctx, "acme", "gitops", nil); !isStatus(err, 403) {
		t.Errorf("hooks with an installation token: %v, want 403", err)
	}
	for _, err := range CheckCalls(e.s.Calls()) {
		t.Error(err)
	}
}

// jwt is a JWT of the test App, as an App signs it.
func (e *env) jwt() string {
	e.t.Helper()
	priv, _ := appKey()
	key, err := jwt.ParseRSAPrivateKeyFromPEM(priv)
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: strconv.Itoa(testAppID), IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}
