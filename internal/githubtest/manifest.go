package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// The GitHub App manifest flow: a browser posts a manifest (form field
// "manifest", the caller's state in the query) to
// /organizations/{org}/settings/apps/new or /settings/apps/new; GitHub
// creates the App and sends the browser to the manifest's redirect_url with
// ?code=...&state=...; POST /app-manifests/{code}/conversions (no
// credentials) hands out the App's id, key and secrets once. On GitHub the
// person first confirms the App's name on a page; here the post creates it
// at once. Apps created this way authenticate with their own JWTs.

// manifestCodeTTL is how long a code can be exchanged (the flow's hour).
const manifestCodeTTL = time.Hour

// maxManifestForm bounds the posted form.
const maxManifestForm = 1 << 20

// manifestApps holds the pending codes and the Apps the flow created.
type manifestApps struct {
	mu    sync.Mutex
	codes map[string]*pendingApp
	apps  map[int64]*manifestApp
	names map[string]bool // slugs taken by created Apps
}

type pendingApp struct {
	owner, ownerType string
	m                appManifest
	expires          time.Time
}

type manifestApp struct {
	id   int64
	slug string
	pub  *rsa.PublicKey
}

// appManifest is the manifest's documented parameters.
type appManifest struct {
	Name           *string `json:"name"`
	URL            *string `json:"url"`
	HookAttributes *struct {
		URL    *string `json:"url"`
		Active *bool   `json:"active"`
	} `json:"hook_attributes"`
	RedirectURL           *string           `json:"redirect_url"`
	CallbackURLs          []string          `json:"callback_urls"`
	SetupURL              *string           `json:"setup_url"`
	Description           *string           `json:"description"`
	Public                *bool             `json:"public"`
	DefaultEvents         []string          `json:"default_events"`
	DefaultPermissions    map[string]string `json:"default_permissions"`
	RequestOAuthOnInstall *bool             `json:"request_oauth_on_install"`
	SetupOnUpdate         *bool             `json:"setup_on_update"`
}

func (m appManifest) hookActive() bool {
	return m.HookAttributes != nil && (m.HookAttributes.Active == nil || *m.HookAttributes.Active)
}

// eventPermission is the permission (any of them, at read or more) an App
// needs to subscribe to an event.
var eventPermission = map[string][]string{
	"check_run": {"checks"}, "check_suite": {"checks"},
	"create": {"contents"}, "delete": {"contents"}, "push": {"contents"}, "release": {"contents"},
	"deployment": {"deployments"}, "deployment_status": {"deployments"},
	"issue_comment": {"issues", "pull_requests"}, "issues": {"issues"},
	"label": {"metadata"}, "public": {"metadata"}, "repository": {"metadata"}, "star": {"metadata"}, "watch": {"metadata"},
	"member": {"members"}, "membership": {"members"}, "team": {"members"}, "organization": {"members"},
	"pull_request": {"pull_requests"}, "pull_request_review": {"pull_requests"}, "pull_request_review_comment": {"pull_requests"},
	"status":       {"statuses"},
	"workflow_run": {"actions"}, "workflow_job": {"actions"}, "workflow_dispatch": {"actions"},
}

// manifestRoutes adds the web pages of the flow to mux.
func (s *Server) manifestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /organizations/{org}/settings/apps/new", func(w http.ResponseWriter, r *http.Request) {
		s.handleNewAppPage(w, r, r.PathValue("org"), "Organization")
	})
	mux.HandleFunc("POST /settings/apps/new", func(w http.ResponseWriter, r *http.Request) {
		s.handleNewAppPage(w, r, s.cfg.StaticTokenUser, "User")
	})
}

// handleNewAppPage is GitHub's "register new GitHub App" page receiving a
// manifest.
func (s *Server) handleNewAppPage(w http.ResponseWriter, r *http.Request, owner, ownerType string) {
	s.logf("githubtest: %s %s (app manifest)", r.Method, r.URL.Path)
	page := func(status int, errs ...string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		var b strings.Builder
		b.WriteString("<!doctype html><title>Register new GitHub App</title><ul class=\"flash-error\">")
		for _, e := range errs {
			b.WriteString("<li>" + html.EscapeString(e) + "</li>")
		}
		b.WriteString("</ul>")
		_, _ = io.WriteString(w, b.String())
	}
	if !validLogin(owner) {
		page(http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestForm+1))
	if err != nil || len(body) > maxManifestForm {
		page(http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		page(http.StatusUnsupportedMediaType, "The manifest is posted as a form")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		page(http.StatusBadRequest, "Malformed form")
		return
	}
	raw := form.Get("manifest")
	if raw == "" {
		page(http.StatusUnprocessableEntity, "Manifest is missing")
		return
	}
	m, errs := parseAppManifest([]byte(raw))
	if len(errs) == 0 {
		slug := appSlug(*m.Name)
		s.manifests.mu.Lock()
		taken := s.manifests.names[slug] || slug == s.slug
		s.manifests.mu.Unlock()
		if taken {
			errs = append(errs, "Name is already in use")
		}
	}
	if len(errs) > 0 {
		page(http.StatusUnprocessableEntity, errs...)
		return
	}
	code := randomHex(10)
	s.manifests.mu.Lock()
	if s.manifests.codes == nil {
		s.manifests.codes = map[string]*pendingApp{}
	}
	s.manifests.codes[code] = &pendingApp{owner: owner, ownerType: ownerType, m: m, expires: time.Now().Add(manifestCodeTTL)}
	s.manifests.mu.Unlock()
	to := s.URL() + "/apps/" + appSlug(*m.Name)
	if m.RedirectURL != nil && *m.RedirectURL != "" {
		u, _ := url.Parse(*m.RedirectURL) // parseAppManifest checked it
		q := u.Query()
		q.Set("code", code)
		if st := r.URL.Query().Get("state"); st != "" {
			q.Set("state", st)
		}
		u.RawQuery = q.Encode()
		to = u.String()
	}
	http.Redirect(w, r, to, http.StatusFound)
}

// parseAppManifest checks a manifest as GitHub's page does, returning its
// error messages.
func parseAppManifest(raw []byte) (appManifest, []string) {
	var m appManifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || dec.More() {
		return m, []string{"Manifest is not valid JSON"}
	}
	var errs []string
	isURL := func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
	}
	if m.Name == nil || strings.TrimSpace(*m.Name) == "" {
		errs = append(errs, "Name can't be blank")
	} else if len(*m.Name) > 34 || appSlug(*m.Name) == "" {
		errs = append(errs, "Name is too long (maximum is 34 characters) or has no letters")
	}
	if m.URL == nil || !isURL(*m.URL) {
		errs = append(errs, "Homepage URL must be a valid URL")
	}
	if m.hookActive() && (m.HookAttributes.URL == nil || !isURL(*m.HookAttributes.URL)) {
		errs = append(errs, "Hook URL must be a valid URL")
	}
	if m.RedirectURL != nil && *m.RedirectURL != "" && !isURL(*m.RedirectURL) {
		errs = append(errs, "Redirect URL must be a valid URL")
	}
	if m.SetupURL != nil && *m.SetupURL != "" && !isURL(*m.SetupURL) {
		errs = append(errs, "Setup URL must be a valid URL")
	}
	if len(m.CallbackURLs) > 10 {
		errs = append(errs, "Callback URLs are limited to 10")
	}
	for _, u := range m.CallbackURLs {
		if !isURL(u) {
			errs = append(errs, "Callback URL must be a valid URL")
		}
	}
	for p, level := range m.DefaultPermissions {
		if level != "read" && level != "write" && level != "admin" {
			errs = append(errs, fmt.Sprintf("Default permission %s has an unknown level %q", p, level))
		}
	}
	for _, e := range m.DefaultEvents {
		perms, ok := eventPermission[e]
		if !ok {
			errs = append(errs, "Default events unsupported: "+e)
			continue
		}
		covered := false
		for _, p := range perms {
			if l := m.DefaultPermissions[p]; l != "" || p == "metadata" {
				covered = true
			}
		}
		if !covered {
			errs = append(errs, fmt.Sprintf("Default events %s is not supported by permissions", e))
		}
	}
	sort.Strings(errs)
	return m, errs
}

// handleManifestConversion is POST /app-manifests/{code}/conversions: the
// App's credentials, once per code.
func (s *Server) handleManifestConversion(c *reqCtx) {
	code := c.r.PathValue("code")
	s.manifests.mu.Lock()
	defer s.manifests.mu.Unlock()
	p := s.manifests.codes[code]
	delete(s.manifests.codes, code) // one use, whatever the outcome
	if p == nil || time.Now().After(p.expires) {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	slug := appSlug(*p.m.Name)
	if s.manifests.names[slug] || slug == s.slug {
		c.w.WriteHeader(http.StatusUnprocessableEntity)
		b, _ := json.Marshal(map[string]any{"message": "Validation Failed", "errors": []string{"Name is already in use"}, "documentation_url": docsURL})
		_, _ = c.w.Write(b)
		return
	}
	pemKey, pub, err := GenerateAppKey()
	if err != nil {
		c.error(http.StatusInternalServerError, err.Error())
		return
	}
	id := s.newID()
	if s.manifests.apps == nil {
		s.manifests.apps, s.manifests.names = map[int64]*manifestApp{}, map[string]bool{}
	}
	s.manifests.apps[id] = &manifestApp{id: id, slug: slug, pub: pub}
	s.manifests.names[slug] = true

	perms := map[string]string{"metadata": "read"}
	for k, v := range p.m.DefaultPermissions {
		perms[k] = v
	}
	events := p.m.DefaultEvents
	if events == nil {
		events = []string{}
	}
	var secret *string
	if p.m.hookActive() {
		s := randomHex(20)
		secret = &s
	}
	now := time.Now()
	desc := ""
	if p.m.Description != nil {
		desc = *p.m.Description
	}
	c.json(http.StatusCreated, map[string]any{
		"id": id, "slug": slug, "node_id": fmt.Sprintf("A_%d", id),
		"client_id": "Iv1." + randomHex(8), "client_secret": randomHex(20), "webhook_secret": secret, "pem": string(pemKey),
		"owner": s.user(p.owner, p.ownerType), "name": *p.m.Name, "description": desc,
		"external_url": *p.m.URL, "html_url": s.URL() + "/apps/" + slug,
		"created_at": ts(now), "updated_at": ts(now),
		"permissions": perms, "events": events, "installations_count": 0,
	})
}

// verify authenticates a JWT signed by an App the manifest flow created;
// nil when tok is not one.
func (a *manifestApps) verify(tok string) *principal {
	claims := &jwt.RegisteredClaims{}
	if _, _, err := (&jwt.Parser{}).ParseUnverified(tok, claims); err != nil {
		return nil
	}
	id, err := strconv.ParseInt(claims.Issuer, 10, 64)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	app := a.apps[id]
	a.mu.Unlock()
	if app == nil {
		return nil
	}
	parser := &jwt.Parser{ValidMethods: []string{"RS256"}}
	t, err := parser.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return app.pub, nil })
	if err != nil || !t.Valid || claims.IssuedAt == nil || claims.ExpiresAt == nil ||
		claims.ExpiresAt.Sub(claims.IssuedAt.Time) > maxJWTLifetime {
		return nil
	}
	return &principal{kind: authJWT, login: app.slug + "[bot]", userType: "Bot"}
}

// appSlug is GitHub's slug of an App name: lower case, runs of other
// characters one dash.
func appSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}

func validLogin(s string) bool {
	if s == "" || len(s) > 39 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return hex.EncodeToString(b)
}
