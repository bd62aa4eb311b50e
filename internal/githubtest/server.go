// Package githubtest is an in-process HTTP server that answers like GitHub
// (Enterprise Server routing) for the parts promobot uses, backed by real bare
// git repositories on disk. Tests and `promobot demo` point go-github and
// ghinstallation at it: REST under /api/v3/, git smart HTTP at
// /<owner>/<repo>.git, signed webhooks to a configured URL.
//
// Beyond git data, pull requests, issues and webhooks it emulates:
//   - commit statuses and check runs (Checks API: create, update, get,
//     list by ref with check_name/filter and paging, annotations appended
//     50 per request, check suites) with GitHub's 422 bodies and the
//     status, check_run (created/completed) and check_suite (completed)
//     webhooks; SetStatus, CreateCheckRun and CompleteCheckRun play CI or
//     Argo CD through the same path;
//   - mergeable computed in the background: null and "unknown" until a GET
//     after the head or base moved has started the computation (or Settle),
//     then mergeable_state clean, blocked, unstable, dirty, behind or draft;
//   - classic branch protection (REST and RequireChecks/RequireApprovals)
//     whose required status checks and approving reviews make the merge
//     endpoint answer GitHub's 405s, repository merge settings (PATCH repo,
//     SetRepoSettings) that refuse disallowed merge methods, and reviews
//     with the pull_request_review webhook;
//   - GraphQL at /graphql and /api/graphql, parsed and validated against a
//     subset of GitHub's schema: enablePullRequestAutoMerge (and disable),
//     repository.pullRequest and node queries, errors as GitHub words them;
//     with auto-merge enabled the server merges the pull request itself
//     once its required checks pass, sending closed (merged) and push.
package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v60/github"
)

const docsURL = "https://docs.github.com/rest"

// maxBody bounds request bodies; GitHub refuses far smaller payloads for most endpoints.
const maxBody = 32 << 20

// Config configures a Server. Dir is required; everything else is optional.
type Config struct {
	// Dir holds the bare repositories, as Dir/<owner>/<repo>.git.
	Dir string
	// AppID and AppPublicKey enable GitHub App (JWT) authentication.
	AppID        int64
	AppPublicKey *rsa.PublicKey
	// AppSlug names the App; its installation tokens act as "<slug>[bot]". Default "promobot".
	AppSlug string
	// InstallationID is the single installation, covering every repository. Zero: none.
	InstallationID int64
	// StaticToken is accepted like a personal access token (token mode).
	StaticToken string
	// StaticTokenUser is the login that owns StaticToken. Default "promobot-user".
	StaticTokenUser string
	// WebhookURL and WebhookSecret configure webhook deliveries (also SetWebhook).
	WebhookURL    string
	WebhookSecret []byte
	// Logf, when set, receives one line per request and per delivery.
	Logf func(format string, args ...any)
}

// Call is one recorded REST API request.
type Call struct {
	Method string
	Path   string // request path, including the /api/v3 prefix
	// Route is the documented template, e.g. "POST /repos/{owner}/{repo}/git/trees";
	// empty when no route matched.
	Route  string
	Status int
	Body   []byte
	// Auth is "app-jwt", "installation", "static" or "" (none or invalid).
	Auth string
}

// Fault is answered instead of handling a request (see SetFault).
type Fault struct {
	Status int
	// Header is set on the answer; a header listed without values is
	// removed from it.
	Header http.Header
	Body   string
	// After handles the request first, so its effects happen, and then
	// answers the fault instead of the real response: a gateway timing out
	// behind a request that went through.
	After bool
	// Drop closes the connection without answering, as a network failure
	// does; Status, Header and Body are ignored. The recorded call's Status
	// is 0.
	Drop bool
}

// PrimaryRateLimitFault is GitHub's answer when the hourly quota is used up
// until reset.
func PrimaryRateLimitFault(reset time.Time) *Fault {
	return &Fault{Status: http.StatusForbidden,
		Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}},
		Body:   `{"message":"API rate limit exceeded for installation.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"}`}
}

// SecondaryRateLimitFault is GitHub's secondary ("abuse") rate limit answer.
func SecondaryRateLimitFault(retryAfter time.Duration) *Fault {
	return &Fault{Status: http.StatusForbidden,
		Header: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}},
		Body:   `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`}
}

// Server is the fake GitHub. It is safe for concurrent use.
type Server struct {
	cfg  Config
	hs   *httptest.Server
	mux  *http.ServeMux
	slug string

	// mu guards all repository state and serialises git writes.
	mu       sync.Mutex
	repos    map[string]*repo
	tokens   map[string]*principal
	verified map[string]bool // commit SHAs created by the App
	teams    map[string]map[string]bool
	nextID   int64
	comments map[int64]*comment

	callMu    sync.Mutex
	calls     []Call
	fault     func(Call) *Fault
	remaining int

	hooks *hooks

	maxBody atomic.Int64 // request body limit; tests lower it

	oauth     *oauthState  // the OAuth web flow (oauth.go); guarded by mu
	manifests manifestApps // Apps created with the manifest flow (manifest.go)
}

type route struct {
	method  string
	path    string // documented OpenAPI template
	pattern string // ServeMux pattern (path part)
	auth    authMode
	h       func(*reqCtx)
}

// New starts a server listening on a loopback port.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("githubtest: config dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create dir: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		slug:      cfg.AppSlug,
		repos:     map[string]*repo{},
		tokens:    map[string]*principal{},
		verified:  map[string]bool{},
		teams:     map[string]map[string]bool{},
		comments:  map[int64]*comment{},
		nextID:    1000,
		remaining: 5000,
	}
	s.maxBody.Store(maxBody)
	if s.slug == "" {
		s.slug = "promobot"
	}
	if s.cfg.StaticTokenUser == "" {
		s.cfg.StaticTokenUser = "promobot-user"
	}
	if cfg.StaticToken != "" {
		s.tokens[cfg.StaticToken] = &principal{kind: authStatic, login: s.cfg.StaticTokenUser, userType: "User"}
	}
	s.hooks = newHooks(cfg.AppID, s.logf)
	s.hooks.set(cfg.WebhookURL, cfg.WebhookSecret)
	s.mux = http.NewServeMux()
	// Routes sharing a ServeMux pattern (commits/{ref...} and its /status)
	// are told apart by the documented template's suffix.
	byPattern := map[string][]route{}
	var order []string
	for _, rt := range s.routes() {
		k := rt.method + " /api/v3" + rt.pattern
		if byPattern[k] == nil {
			order = append(order, k)
		}
		byPattern[k] = append(byPattern[k], rt)
	}
	for _, k := range order {
		rts := byPattern[k]
		s.mux.HandleFunc(k, func(w http.ResponseWriter, r *http.Request) {
			s.serveAPI(w, r, pickRoute(rts, r.URL.Path))
		})
	}
	s.mux.HandleFunc("/api/v3/", func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, nil) })
	s.registerOAuth(s.mux) // the OAuth web flow (oauth.go)
	s.manifestRoutes(s.mux)
	s.mux.HandleFunc("/{owner}/{repo}/{rest...}", s.serveGit)
	s.registerGraphQL()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Not Found", http.StatusNotFound)
	})
	s.hs = httptest.NewServer(s.pages(s.mux)) // pages: pull request pages (oauth.go)
	return s, nil
}

// URL is the base URL (no /api/v3), e.g. for html and clone links.
func (s *Server) URL() string { return s.hs.URL }

// APIURL is the REST base with a trailing slash, for PROMOBOT_GITHUB_API_URL.
func (s *Server) APIURL() string { return s.hs.URL + "/api/v3/" }

// Close stops the HTTP server and the webhook sender. Queued deliveries are dropped.
func (s *Server) Close() {
	s.hs.Close()
	s.hooks.close()
}

// SetWebhook changes where deliveries go from now on; an empty url records
// deliveries without sending them.
func (s *Server) SetWebhook(url string, secret []byte) { s.hooks.set(url, secret) }

// SetFault installs fn, consulted before every API request; a non-nil Fault is
// answered instead of handling the request. nil removes it.
func (s *Server) SetFault(fn func(c Call) *Fault) {
	s.callMu.Lock()
	s.fault = fn
	s.callMu.Unlock()
}

// Calls returns a copy of the recorded API calls, oldest first.
func (s *Server) Calls() []Call {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCounts counts recorded calls by Route ("" for unrouted requests).
func (s *Server) CallCounts() map[string]int {
	out := map[string]int{}
	for _, c := range s.Calls() {
		out[c.Route]++
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.callMu.Lock()
	s.calls = nil
	s.callMu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// reqCtx is one API request being handled.
type reqCtx struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	p    *principal
	repo *repo
}

type statusWriter struct {
	http.ResponseWriter
	status int
	// answered, when set, is called once with the status before any of
	// the answer leaves: a client that has its answer finds its call
	// recorded.
	answered func(status int)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.answered != nil {
			w.answered(code)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveAPI(rw http.ResponseWriter, r *http.Request, rt *route) {
	limit := s.maxBody.Load()
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	tooLarge := err != nil || int64(len(body)) > limit
	if tooLarge {
		body = nil // neither handled nor kept
	}
	w := &statusWriter{ResponseWriter: rw}
	call := Call{Method: r.Method, Path: r.URL.Path, Body: body}
	if rt != nil {
		call.Route = rt.method + " " + rt.path
	}
	p := s.authenticate(r)
	if p != nil {
		call.Auth = p.kind.String()
	}
	record := func(status int) {
		call.Status = status
		s.callMu.Lock()
		s.calls = append(s.calls, call)
		s.callMu.Unlock()
	}
	w.answered = record
	dropped := false
	defer func() {
		if w.status == 0 {
			if !dropped { // nothing written: net/http answers 200
				w.status = http.StatusOK
			}
			record(w.status)
		}
		s.logf("githubtest: %s %s -> %d", r.Method, r.URL.RequestURI(), w.status)
	}()

	s.callMu.Lock()
	fault := s.fault
	if s.remaining > 0 {
		s.remaining--
	}
	remaining := s.remaining
	s.callMu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Request-Id", requestID())
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")

	if fault != nil {
		if f := fault(call); f != nil {
			if f.After {
				// The real answer goes nowhere; the fault is answered.
				s.handle(&reqCtx{s: s, w: &statusWriter{ResponseWriter: httptest.NewRecorder()}, r: r, body: body, p: p}, rt, tooLarge)
			}
			if f.Drop {
				dropped = true
				panic(http.ErrAbortHandler) // net/http closes the connection unanswered
			}
			for k, vs := range f.Header {
				if len(vs) == 0 {
					h.Del(k) // a header GitHub's answer lacks (e.g. X-RateLimit-*)
					continue
				}
				h[http.CanonicalHeaderKey(k)] = vs
			}
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			fb := f.Body
			if fb == "" {
				fb = errorBody(http.StatusText(status))
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, fb)
			return
		}
	}
	s.handle(&reqCtx{s: s, w: w, r: r, body: body, p: p}, rt, tooLarge)
}

// handle answers an API request that no fault replaced.
func (s *Server) handle(c *reqCtx, rt *route, tooLarge bool) {
	r, p := c.r, c.p
	if tooLarge {
		c.error(http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	if rt == nil {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	if !s.authorize(c, rt) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(rt.pattern, "/repos/{owner}/{repo}") {
		rp := s.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
		if rp == nil || !p.canAccess(rp) {
			c.error(http.StatusNotFound, "Not Found")
			return
		}
		c.repo = rp
	}
	rt.h(c)
}

// pickRoute chooses among routes sharing a pattern: the one whose documented
// literal suffix (e.g. "/status") ends the path, else the one without suffix.
func pickRoute(rts []route, p string) *route {
	if len(rts) == 1 {
		return &rts[0]
	}
	var plain *route
	for i := range rts {
		doc := rts[i].path
		suffix := doc[strings.LastIndex(doc, "}")+1:]
		switch {
		case suffix == "":
			plain = &rts[i]
		case strings.HasSuffix(p, suffix):
			return &rts[i]
		}
	}
	return plain
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	x := strings.ToUpper(hex.EncodeToString(b[:]))
	return x[0:4] + ":" + x[4:8] + ":" + x[8:12] + ":" + x[12:16]
}

func errorBody(msg string) string {
	b, _ := json.Marshal(map[string]string{"message": msg, "documentation_url": docsURL})
	return string(b)
}

func (c *reqCtx) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.error(http.StatusInternalServerError, "marshal: "+err.Error())
		return
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b)
}

func (c *reqCtx) error(status int, msg string) {
	c.w.WriteHeader(status)
	_, _ = io.WriteString(c.w, errorBody(msg))
}

// fieldError is one entry of a 422's "errors" list.
type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

// unprocessable answers 422; with errs it is GitHub's "Validation Failed" shape.
func (c *reqCtx) unprocessable(msg string, errs ...fieldError) {
	if len(errs) == 0 {
		c.error(http.StatusUnprocessableEntity, msg)
		return
	}
	c.json(http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": errs, "documentation_url": docsURL,
	})
}

// decode parses the JSON body into v, answering 400 like GitHub on failure.
func (c *reqCtx) decode(v any) bool {
	if len(bytes.TrimSpace(c.body)) == 0 {
		c.error(http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		c.error(http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func (c *reqCtx) intParam(name string) (int, bool) {
	n, err := strconv.Atoi(c.r.PathValue(name))
	if err != nil || n <= 0 {
		c.error(http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}

// paginate slices items per page/per_page and sets GitHub's Link header.
func paginate[T any](c *reqCtx, items []T) []T {
	q := c.r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if per > 100 {
		per = 100
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	last := (len(items) + per - 1) / per
	if last == 0 {
		last = 1
	}
	link := func(p int, rel string) string {
		u := *c.r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf(`<%s%s>; rel="%s"`, c.s.URL(), u.RequestURI(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := (page - 1) * per
	if start >= len(items) {
		return []T{}
	}
	end := min(start+per, len(items))
	return items[start:end]
}

func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

// repoDir returns where fullName's bare repository lives.
func (s *Server) repoDir(fullName string) string {
	return filepath.Join(s.cfg.Dir, filepath.FromSlash(fullName)+".git")
}

func ts(t time.Time) *github.Timestamp { return &github.Timestamp{Time: t.UTC().Truncate(time.Second)} }
