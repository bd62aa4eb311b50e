// Package appmanifest creates promobot's GitHub App with GitHub's manifest
// flow: a short-lived web server on loopback serves a page that posts the App
// manifest to GitHub, GitHub sends the browser back with a one-time code,
// and the code is exchanged for the App's id, private key and webhook secret,
// which are written to files only the user can read.
package appmanifest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config is one run of the flow.
type Config struct {
	// Org is the organization that will own the App.
	Org string
	// GitHubURL is GitHub's web address: empty or https://github.com, or a
	// GitHub Enterprise Server's https://HOST.
	GitHubURL string
	// Manifest is the App manifest (JSON) to post.
	Manifest []byte
	// WebhookURL is where GitHub delivers webhooks; empty: the App's webhook
	// is created inactive, to be set in its settings later.
	WebhookURL string
	// Listen is the loopback address of the local server (default 127.0.0.1:0).
	Listen string
	// HTTPClient makes the conversion request (default: 30 s timeout).
	HTTPClient *http.Client
}

// Credentials is what GitHub hands over for the new App.
type Credentials struct {
	ID            int64
	Slug          string
	HTMLURL       string
	PEM           string
	WebhookSecret string // empty when the App has no webhook
	ClientID      string
	ClientSecret  string
}

// InstallURL is the page that installs the App on an account.
func (c Credentials) InstallURL() string {
	return strings.TrimSuffix(c.HTMLURL, "/") + "/installations/new"
}

// Flow is a running manifest flow.
type Flow struct {
	cfg      Config
	web, api string // GitHub's web and REST bases, each ending in "/"
	manifest []byte // the manifest as posted
	state    string
	ln       net.Listener
	srv      *http.Server
	client   *http.Client

	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	busy bool // a callback is being exchanged
	res  Credentials
	err  error
}

// maxResponse bounds the conversion answer (an App with a key is a few KiB).
const maxResponse = 1 << 20

// maxCode bounds the code GitHub sends back (it is 20 hex characters).
const maxCode = 128

// Start checks the configuration, prepares the manifest and starts the local
// server. The caller opens URL in a browser and then calls Wait.
func Start(cfg Config) (*Flow, error) {
	if !validOrg(cfg.Org) {
		return nil, fmt.Errorf("organization %q: want a GitHub organization login", cfg.Org)
	}
	web, api, err := URLs(cfg.GitHubURL)
	if err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen %q: the local server listens on a loopback address only", cfg.Listen)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		_ = ln.Close() // nothing was served
		return nil, fmt.Errorf("state: %w", err)
	}
	f := &Flow{cfg: cfg, web: web, api: api, state: hex.EncodeToString(b[:]), ln: ln, done: make(chan struct{}), client: cfg.HTTPClient}
	if f.client == nil {
		f.client = &http.Client{Timeout: 30 * time.Second}
	}
	if f.manifest, err = Prepare(cfg.Manifest, cfg.WebhookURL, f.URL()+"callback"); err != nil {
		_ = ln.Close() // nothing was served
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", f.page)
	mux.HandleFunc("GET /callback", f.callback)
	f.srv = &http.Server{Handler: f.guard(mux), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() { _ = f.srv.Serve(ln) }() // ends with Close; Serve's error then is ErrServerClosed
	return f, nil
}

// URL is the local page that posts the manifest to GitHub, ending in "/".
func (f *Flow) URL() string { return "http://" + f.ln.Addr().String() + "/" }

// NewAppPage is GitHub's page the manifest is posted to.
func (f *Flow) NewAppPage() string {
	return f.web + "organizations/" + url.PathEscape(f.cfg.Org) + "/settings/apps/new"
}

// PostURL is NewAppPage with the flow's state.
func (f *Flow) PostURL() string { return f.NewAppPage() + "?state=" + f.state }

// APIURL is GitHub's REST base the code is exchanged at.
func (f *Flow) APIURL() string { return f.api }

// Wait returns the new App's credentials once GitHub sent the browser back
// and the code was exchanged, or the error that ended the flow.
func (f *Flow) Wait(ctx context.Context) (Credentials, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return Credentials{}, fmt.Errorf("waiting for github: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.res, f.err
}

// Close stops the local server.
func (f *Flow) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop local server: %w", err)
	}
	return nil
}

func (f *Flow) finish(res Credentials, err error) {
	f.once.Do(func() {
		f.mu.Lock()
		f.res, f.err = res, err
		f.mu.Unlock()
		close(f.done)
	})
}

// guard answers only requests addressed to the local server by its own
// address (a page elsewhere cannot reach it by a rebound DNS name) and
// without a body.
func (f *Flow) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Host != f.ln.Addr().String() {
			http.Error(w, "wrong host", http.StatusMisdirectedRequest)
			return
		}
		if r.ContentLength != 0 {
			http.Error(w, "no body expected", http.StatusRequestEntityTooLarge)
			return
		}
		h.ServeHTTP(w, r)
	})
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Create the promobot GitHub App</title></head>
<body>
<h1>Create the promobot GitHub App</h1>
<p>This page posts promobot's App manifest to {{.Action}}. GitHub asks you to name the App and sends you back here.</p>
<form id="manifest" method="post" action="{{.Action}}">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button type="submit">Create the App on GitHub</button>
</form>
<script nonce="{{.Nonce}}">document.getElementById("manifest").submit();</script>
</body></html>
`))

func (f *Flow) page(w http.ResponseWriter, _ *http.Request) {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		http.Error(w, "no randomness", http.StatusInternalServerError)
		return
	}
	nonce := hex.EncodeToString(n[:])
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action "+strings.TrimSuffix(f.web, "/"))
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, map[string]string{"Action": f.PostURL(), "Manifest": string(f.manifest), "Nonce": nonce}); err != nil {
		http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(buf.Bytes()) // the browser went away; nothing to do
}

// callback is where GitHub sends the browser back: ?code=...&state=..., or
// ?error=...&error_description=... when it did not create the App.
func (f *Flow) callback(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "malformed query", http.StatusBadRequest)
		return
	}
	state := q.Get("state")
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(state), []byte(f.state)) != 1 {
		// Not GitHub's answer to this flow's request: the flow goes on.
		http.Error(w, "unknown state: this is not the answer to the App creation this command started", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	taken := f.busy
	f.busy = true
	f.mu.Unlock()
	select {
	case <-f.done:
		taken = true
	default:
	}
	if taken {
		http.Error(w, "this App creation is already answered", http.StatusConflict)
		return
	}
	if e := q.Get("error"); e != "" {
		err := fmt.Errorf("github did not create the app: %s", clip(e+": "+q.Get("error_description")))
		f.finish(Credentials{}, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	code := q.Get("code")
	if len(q["code"]) != 1 || !validCode(code) {
		err := errors.New("github's answer has no valid code")
		f.finish(Credentials{}, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The exchange outlives a browser that goes away: the code is good once.
	creds, err := f.convert(context.WithoutCancel(r.Context()), code)
	f.finish(creds, err)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = doneTmpl.Execute(w, creds) // the browser went away; the files are written regardless
}

var doneTmpl = template.Must(template.New("done").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>promobot App created</title></head>
<body><h1>The GitHub App {{.Slug}} is created</h1>
<p>Its credentials are on your disk; the command prints what to do next. You can close this page.</p>
<p>Install it: <a href="{{.InstallURL}}">{{.InstallURL}}</a></p></body></html>
`))

// conversion is the answer of POST /app-manifests/{code}/conversions.
type conversion struct {
	ID            int64   `json:"id"`
	Slug          string  `json:"slug"`
	HTMLURL       string  `json:"html_url"`
	PEM           string  `json:"pem"`
	WebhookSecret *string `json:"webhook_secret"`
	ClientID      string  `json:"client_id"`
	ClientSecret  string  `json:"client_secret"`
}

func (f *Flow) convert(ctx context.Context, code string) (Credentials, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.api+"app-manifests/"+url.PathEscape(code)+"/conversions", nil)
	if err != nil {
		return Credentials{}, fmt.Errorf("exchange code: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := f.client.Do(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("exchange code: %w", err)
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, maxResponse)
	if err != nil {
		return Credentials{}, fmt.Errorf("exchange code: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		}
		_ = json.Unmarshal(body, &e) // a body that is not GitHub's error shape leaves the status alone
		msg := strings.TrimSpace(e.Message + " " + strings.Join(e.Errors, "; "))
		if resp.StatusCode == http.StatusNotFound {
			msg += " (the code is used up or older than an hour: run the command again)"
		}
		return Credentials{}, fmt.Errorf("exchange code: github answered %d: %s", resp.StatusCode, clip(msg))
	}
	var c conversion
	if err := json.Unmarshal(body, &c); err != nil {
		return Credentials{}, fmt.Errorf("exchange code: decode answer: %w", err)
	}
	if c.ID <= 0 || !strings.Contains(c.PEM, "PRIVATE KEY") || c.HTMLURL == "" {
		return Credentials{}, errors.New("exchange code: github's answer lacks the app id, key or page")
	}
	if err := checkKey(c.PEM); err != nil {
		return Credentials{}, fmt.Errorf("exchange code: the app's key: %w", err)
	}
	cr := Credentials{ID: c.ID, Slug: c.Slug, HTMLURL: c.HTMLURL, PEM: c.PEM, ClientID: c.ClientID, ClientSecret: c.ClientSecret}
	if c.WebhookSecret != nil {
		cr.WebhookSecret = *c.WebhookSecret
	}
	return cr, nil
}

func readCapped(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("answer over %d bytes", limit)
	}
	return b, nil
}

func validOrg(s string) bool {
	if s == "" || len(s) > 39 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func validCode(s string) bool {
	if s == "" || len(s) > maxCode {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// clip keeps text from GitHub or a query short and on one line.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
