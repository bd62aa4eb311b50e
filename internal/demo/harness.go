// Package demo runs promobot end to end on one machine: the GitHub test
// server with a sample GitOps repository, and promobot itself (embedded NATS,
// webhook server, workers) wired exactly as `promobot serve` wires it.
// `promobot demo` narrates it; the end-to-end tests drive it.
package demo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/worker"
)

//go:embed sample
var sample embed.FS

// Names used by the sample.
const (
	GitOpsRepo     = "acme/gitops"
	SourceRepo     = "acme/payment-service"
	Service        = "payment-service"
	Image          = "registry.example.com/payment-service"
	AppID          = 4242
	InstallationID = 77
)

// Options adjust the harness.
type Options struct {
	Dir     string // working directory (repositories, JetStream, mirrors)
	Log     zerolog.Logger
	Rules   []byte // rules file content; default: the sample rules
	Workers int
	// Queue is passed to promobot; a zero AckWait becomes 30 s.
	Queue queue.Config
	// NATSURL is an external NATS (comma-separated for a cluster); empty:
	// embedded under Dir.
	NATSURL string
	// GitHubLogf receives the GitHub test server's request and delivery log.
	GitHubLogf func(format string, args ...any)
	// GitOpsFiles are added to the sample GitOps repository (same path: replaced).
	GitOpsFiles map[string]string
	// APIMiddleware, when set, wraps a reverse proxy to the GitHub test
	// server that promobot uses as its API URL, so a test sees every REST
	// request and response (e.g. the installation tokens issued).
	APIMiddleware func(next http.Handler) http.Handler
	// GitHubRetry configures promobot's GitHub retries; nil: content pacing
	// off (the test server has no secondary limits).
	GitHubRetry *ghretry.Config
	// UINoAuth serves the status page to everyone; UIOAuth with sign-in
	// (its URLs default to the test server and Listen). Neither: 404.
	UINoAuth bool
	UIOAuth  *ui.OAuth
	// UIRefresh is how often the page's mirrors are fetched when nothing
	// else did (app.Config.UIRefresh; 0: app.DefaultUIRefresh).
	UIRefresh time.Duration
	// Listen is promobot's listen address (default 127.0.0.1:0).
	Listen string
	// GitHubBudget is promobot's shared GitHub write budget; no windows: none.
	GitHubBudget budget.Config
	// RedeliverInterval runs the delivery reconciler; 0: off.
	RedeliverInterval time.Duration
	// Clock is promobot's time (gates, policy check, its scheduler); nil:
	// the wall clock.
	Clock policycheck.Clock
}

// Harness is a running GitHub test server plus a running promobot.
type Harness struct {
	GitHub    *githubtest.Server
	App       *app.App
	Secret    []byte
	RulesPath string
	// PrivateKey is the GitHub App private key (PEM) promobot signs JWTs with.
	PrivateKey []byte

	proxy *httptest.Server

	mu      sync.Mutex
	results []worker.Result
	notify  chan struct{}

	// policy holds the results of promobot/policy checks apart: they come
	// with every PR event, and the promotion results keep their numbering.
	policy       []worker.Result
	policyNotify chan struct{}
	// configuration reads (app.Config.ObserveIndex)
	indexed     []worker.Result
	indexNotify chan struct{}
	// health reports recorded for the status page (health.go)
	health []worker.Result
}

// Start creates the sample repositories and starts both servers.
func Start(ctx context.Context, o Options) (_ *Harness, err error) {
	if o.Workers == 0 {
		o.Workers = 2
	}
	retry := ghretry.Config{ContentPace: -1}
	if o.GitHubRetry != nil {
		retry = *o.GitHubRetry
	}
	if o.Queue.AckWait == 0 {
		o.Queue.AckWait = 30 * time.Second
	}
	keyPEM, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(secret))
	gh, err := githubtest.New(githubtest.Config{
		Dir: filepath.Join(o.Dir, "github"), AppID: AppID, AppPublicKey: pub, InstallationID: InstallationID,
		Logf: o.GitHubLogf,
	})
	if err != nil {
		return nil, fmt.Errorf("start github test server: %w", err)
	}
	h := &Harness{GitHub: gh, Secret: secret, PrivateKey: keyPEM, notify: make(chan struct{}, 1), policyNotify: make(chan struct{}, 1), indexNotify: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	files, err := sampleFiles("sample/gitops")
	if err != nil {
		return nil, err
	}
	for p, c := range o.GitOpsFiles {
		files[p] = c
	}
	if err := gh.CreateRepo(GitOpsRepo, "main", files); err != nil {
		return nil, err
	}
	if err := gh.CreateRepo(SourceRepo, "main", map[string]string{
		"main.go":                     "package main\n\nfunc main() {}\n",
		".github/workflows/build.yml": "name: build\non: push\njobs: {}\n",
	}); err != nil {
		return nil, err
	}
	for _, u := range []string{"alice", "bob"} {
		if err := gh.SetPermission(GitOpsRepo, u, "write"); err != nil {
			return nil, err
		}
	}
	gh.AddTeamMember("acme", "payments-leads", "bob")

	apiURL := gh.APIURL()
	if o.APIMiddleware != nil {
		target, err := url.Parse(gh.URL())
		if err != nil {
			return nil, fmt.Errorf("github test server url: %w", err)
		}
		h.proxy = httptest.NewServer(o.APIMiddleware(httputil.NewSingleHostReverseProxy(target)))
		apiURL = h.proxy.URL + "/api/v3/"
	}

	rules := o.Rules
	if rules == nil {
		if rules, err = sample.ReadFile("sample/rules.yaml"); err != nil {
			return nil, fmt.Errorf("read sample rules: %w", err)
		}
	}
	h.RulesPath = filepath.Join(o.Dir, "promotion-rules.yaml")
	if err := os.WriteFile(h.RulesPath, rules, 0o600); err != nil {
		return nil, fmt.Errorf("write rules: %w", err)
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	h.App, err = app.Start(ctx, app.Config{
		UINoAuth: o.UINoAuth, UIOAuth: o.UIOAuth, UIRefresh: o.UIRefresh, PublicURL: "http://" + listen,
		RulesPath: h.RulesPath, Listen: listen, DataDir: filepath.Join(o.Dir, "promobot"), NATSURL: o.NATSURL,
		GitHubAPIURL: apiURL, AppID: AppID, PrivateKey: keyPEM, WebhookSecret: secret,
		Workers: o.Workers, Webhook: true, Worker: true, Log: o.Log, Observe: h.observe, ObserveIndex: h.observeIndex,
		Queue: o.Queue, GitHubRetry: retry, Clock: o.Clock,
		GitHubBudget: o.GitHubBudget, RedeliverInterval: o.RedeliverInterval,
	})
	if err != nil {
		return nil, err
	}
	gh.SetWebhook(h.WebhookURL(), secret)
	return h, nil
}

// StatusURL is promobot's status page.
func (h *Harness) StatusURL() string { return "http://" + h.App.Addr() + "/" }

// WebhookURL is promobot's webhook endpoint.
func (h *Harness) WebhookURL() string { return "http://" + h.App.Addr() + "/webhook" }

// Close stops promobot, the API proxy, then the test server.
func (h *Harness) Close() {
	if h.App != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.App.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "promobot shutdown:", err)
		}
		h.App = nil
	}
	if h.proxy != nil {
		h.proxy.Close()
		h.proxy = nil
	}
	if h.GitHub != nil {
		h.GitHub.Close()
		h.GitHub = nil
	}
}

func (h *Harness) observe(r worker.Result) {
	if r.Intent.Kind == intent.KindPolicy {
		h.observePolicy(r)
		return
	}
	if r.Intent.Kind == intent.KindHealth {
		h.observeHealth(r)
		return
	}
	h.mu.Lock()
	h.results = append(h.results, r)
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

func (h *Harness) observeIndex(r worker.Result) {
	h.mu.Lock()
	h.indexed = append(h.indexed, r)
	h.mu.Unlock()
	select {
	case h.indexNotify <- struct{}{}:
	default:
	}
}

// IndexReads returns the results of configuration reads so far (the
// start-up scan's and those of pushes that changed a configuration).
func (h *Harness) IndexReads() []worker.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]worker.Result(nil), h.indexed...)
}

// AwaitIndexed waits for a configuration read of repo (a push changed its
// configuration, or the start-up scan found it) and returns its result.
func (h *Harness) AwaitIndexed(ctx context.Context, repo string, ok func(worker.Result) bool) (worker.Result, error) {
	for {
		h.mu.Lock()
		for _, r := range h.indexed {
			if r.Intent.Repo == repo && (ok == nil || ok(r)) {
				h.mu.Unlock()
				return r, nil
			}
		}
		h.mu.Unlock()
		select {
		case <-h.indexNotify:
		case <-ctx.Done():
			return worker.Result{}, fmt.Errorf("waiting for a configuration read of %s: %w", repo, ctx.Err())
		}
	}
}

// Results returns every intent result so far, in order.
func (h *Harness) Results() []worker.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]worker.Result(nil), h.results...)
}

// Await waits until the n-th result (counting from 0) exists and returns it.
func (h *Harness) Await(ctx context.Context, n int) (worker.Result, error) {
	for {
		h.mu.Lock()
		if len(h.results) > n {
			r := h.results[n]
			h.mu.Unlock()
			return r, nil
		}
		h.mu.Unlock()
		select {
		case <-h.notify:
		case <-ctx.Done():
			return worker.Result{}, fmt.Errorf("waiting for intent result #%d (have %d): %w", n+1, len(h.Results()), ctx.Err())
		}
	}
}

// Send delivers a signed webhook to promobot, as GitHub does, and returns the HTTP status.
func (h *Harness) Send(ctx context.Context, event, deliveryID string, payload []byte) (int, error) {
	mac := hmac.New(sha256.New, h.Secret)
	mac.Write(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.WebhookURL(), bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", deliveryID)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("User-Agent", "GitHub-Hookshot/demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("send webhook: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read webhook response: %w", err)
	}
	return resp.StatusCode, nil
}

// Build is one successful build of the source repository.
type Build struct {
	SHA       string
	Message   string
	RunNumber int
}

// WorkflowRun renders a real workflow_run delivery (octokit's example
// payload) rewritten for a successful build of the sample service.
func (h *Harness) WorkflowRun(b Build) ([]byte, error) {
	raw, err := sample.ReadFile("sample/workflow_run.json")
	if err != nil {
		return nil, fmt.Errorf("read sample payload: %w", err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode sample payload: %w", err)
	}
	owner, name, _ := strings.Cut(SourceRepo, "/")
	repo := p["repository"].(map[string]any)
	repo["full_name"], repo["name"] = SourceRepo, name
	repo["owner"].(map[string]any)["login"] = owner
	repo["html_url"] = h.GitHub.URL() + "/" + SourceRepo
	wf := p["workflow"].(map[string]any)
	wf["path"] = ".github/workflows/build.yml"
	run := p["workflow_run"].(map[string]any)
	run["path"], run["head_sha"], run["head_branch"] = ".github/workflows/build.yml", b.SHA, "main"
	run["status"], run["conclusion"], run["run_number"] = "completed", "success", b.RunNumber
	run["html_url"] = fmt.Sprintf("%s/%s/actions/runs/%d", h.GitHub.URL(), SourceRepo, 1000+b.RunNumber)
	run["display_title"] = firstLine(b.Message)
	if hr, ok := run["head_repository"].(map[string]any); ok {
		hr["full_name"], hr["name"] = SourceRepo, name
	}
	if hc, ok := run["head_commit"].(map[string]any); ok {
		hc["id"], hc["message"] = b.SHA, b.Message
	}
	p["action"] = "completed"
	p["installation"] = map[string]any{"id": InstallationID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzc="}
	out, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return out, nil
}

// SourceCommit makes a commit in the source repository (a developer's push)
// and returns its sha.
func (h *Harness) SourceCommit(message string) (string, error) {
	content := message + "\n"
	return h.GitHub.Commit(SourceRepo, "main", map[string]*string{"CHANGELOG.md": &content}, message)
}

// OverlayPath is the sample's kustomization file of env.
func OverlayPath(env string) string {
	return path.Join("apps", Service, "overlays", env, "kustomization.yaml")
}

func sampleFiles(root string) (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(sample, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sample.ReadFile(p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, root+"/")] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read sample repository: %w", err)
	}
	return files, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
