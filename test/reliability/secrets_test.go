package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

// keyWindow is the length of private-key substrings that count as a leak.
const keyWindow = 40

// credentials records every credential that crossed the API proxy: the
// Authorization headers promobot sent (App JWTs, installation tokens) and
// the installation tokens GitHub issued.
type credentials struct {
	mu     sync.Mutex
	auth   map[string]bool
	tokens map[string]bool
}

// teeWriter keeps a copy of a response body.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (the reverse proxy's flushes) reach the real writer.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var accessTokens = regexp.MustCompile(`^/api/v3/app/installations/[0-9]+/access_tokens$`)

func (c *credentials) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			_, cred, _ := strings.Cut(a, " ")
			c.mu.Lock()
			c.auth[strings.TrimSpace(cred)] = true
			c.mu.Unlock()
		}
		if r.Method != http.MethodPost || !accessTokens.MatchString(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		var tok struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(tw.body.Bytes(), &tok) == nil && tok.Token != "" {
			c.mu.Lock()
			c.tokens[tok.Token] = true
			c.mu.Unlock()
		}
	})
}

func (c *credentials) snapshot() (auth, tokens []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a := range c.auth {
		auth = append(auth, a)
	}
	for t := range c.tokens {
		tokens = append(tokens, t)
	}
	return auth, tokens
}

// secretValue is one value that must never be logged.
type secretValue struct{ what, value string }

// leaks returns a description of every secret found in logs: exact values,
// and any keyWindow-character piece of the private key's PEM body (also
// across line breaks, raw or JSON-escaped).
func leaks(logs string, pemKey []byte, secrets []secretValue) []string {
	var found []string
	for _, s := range secrets {
		if s.value != "" && strings.Contains(logs, s.value) {
			found = append(found, s.what)
		}
	}
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return append(found, "the private key is not PEM (test bug)")
	}
	var body strings.Builder
	for _, line := range strings.Split(string(pemKey), "\n") {
		if !strings.HasPrefix(line, "-----") {
			body.WriteString(strings.TrimSpace(line))
		}
	}
	windows := map[string]bool{}
	b := body.String()
	for i := 0; i+keyWindow <= len(b); i++ {
		windows[b[i:i+keyWindow]] = true
	}
	flat := strings.NewReplacer(`\r`, "", `\n`, "", "\r", "", "\n", "").Replace(logs)
	for i := 0; i+keyWindow <= len(flat); i++ {
		if windows[flat[i:i+keyWindow]] {
			return append(found, fmt.Sprintf("private key (%d characters at log offset %d)", keyWindow, i))
		}
	}
	return found
}

// TestSecretsNeverLogged runs the whole flow (build → dev commit → staging
// PR → requested prod PR), with GitHub failing some calls and a forged
// delivery thrown in, with promobot logging at debug level and the GitHub
// test server's request log in the same buffer; none of the App's private
// key, the installation tokens, the App JWTs, the webhook secret or any
// X-Hub-Signature-256 value may appear in it.
func TestSecretsNeverLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := &syncBuffer{}
	creds := &credentials{auth: map[string]bool{}, tokens: map[string]bool{}}
	h, err := demo.Start(ctx, demo.Options{
		Dir: t.TempDir(), Log: zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger(),
		GitHubLogf:    func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) },
		APIMiddleware: creds.middleware,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(h.Close)
	gh := h.GitHub
	// Error paths log more than happy ones: a failed token exchange, a
	// failed commit, a secondary rate limit.
	var mu sync.Mutex
	seen := map[string]int{}
	gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		seen[c.Route]++
		switch {
		case c.Route == "POST /app/installations/{installation_id}/access_tokens" && seen[c.Route] == 1:
			return &githubtest.Fault{Status: http.StatusInternalServerError}
		case c.Route == "POST /repos/{owner}/{repo}/git/trees" && seen[c.Route] == 1:
			return &githubtest.Fault{Status: http.StatusBadGateway}
		case c.Route == "POST /repos/{owner}/{repo}/pulls" && seen[c.Route] == 1:
			return githubtest.SecondaryRateLimitFault(time.Second)
		}
		return nil
	})

	var sigs []secretValue
	send := func(id string, payload []byte, secret []byte, want int) {
		t.Helper()
		code, err := deliver(ctx, h.WebhookURL(), secret, "workflow_run", id, payload)
		if err != nil || code != want {
			t.Fatalf("delivery %s: %d %v, want %d", id, code, err, want)
		}
		sigs = append(sigs, secretValue{"X-Hub-Signature-256 of delivery " + id, strings.TrimPrefix(signature(secret, payload), "sha256=")})
	}
	msg := "PAY-99: keep secrets secret"
	sha, err := h.SourceCommit(msg)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: msg, RunNumber: 99})
	if err != nil {
		t.Fatal(err)
	}
	send(demo.DeliveryID(), payload, []byte("not-the-secret"), http.StatusUnauthorized)
	send(demo.DeliveryID(), payload, h.Secret, http.StatusAccepted)
	if _, err := awaitResult(ctx, h, "the staging PR", func(r worker.Result) bool { return r.Intent.To == "staging" }); err != nil {
		t.Fatal(err)
	}
	stg := h.Results()
	if _, err := gh.Merge(demo.GitOpsRepo, stg[len(stg)-1].PR, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	merged, err := h.PR(stg[len(stg)-1].PR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.RequestPromotion(ctx, demo.Request{Env: "prod", Requester: "alice", PR: merged}); err != nil {
		t.Fatal(err)
	}
	if r, err := awaitResult(ctx, h, "the prod PR", func(r worker.Result) bool { return r.Intent.To == "prod" }); err != nil || r.Outcome != worker.Opened {
		t.Fatalf("prod: %+v %v", r.Outcome, err)
	}
	// The deliveries GitHub sent itself (the pushes) were signed too.
	for _, d := range gh.Deliveries() {
		sigs = append(sigs, secretValue{"X-Hub-Signature-256 of GitHub's delivery " + d.ID, strings.TrimPrefix(signature(h.Secret, d.Body), "sha256=")})
	}
	h.Close() // flush every log line

	auth, tokens := creds.snapshot()
	if len(tokens) == 0 || len(auth) < 2 {
		t.Fatalf("captured %d installation tokens and %d credentials: the flow did not authenticate as an App", len(tokens), len(auth))
	}
	secrets := append([]secretValue{{"the webhook secret", string(h.Secret)}}, sigs...)
	for _, tok := range tokens {
		secrets = append(secrets, secretValue{"installation token " + tok[:8] + "…", tok})
	}
	for _, a := range auth {
		// A JWT's signature is what makes it a credential.
		v := a
		if parts := strings.Split(a, "."); len(parts) == 3 {
			v = parts[2]
		}
		secrets = append(secrets, secretValue{"Authorization credential " + a[:8] + "…", v})
	}

	out := logs.String()
	// The buffer really holds the flow: promobot's debug lines, the
	// deliveries and the GitHub test server's request log.
	for _, want := range []string{"intent handled", "github request retried", "access_tokens", "signature missing or invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q: the test would not see a leak there", want)
		}
	}
	// The detector itself finds what it looks for.
	if got := leaks(string(h.PrivateKey[100:200]), h.PrivateKey, nil); len(got) != 1 {
		t.Errorf("leak detector missed a piece of the key: %v", got)
	}
	found := leaks(out, h.PrivateKey, secrets)
	for _, l := range found {
		t.Errorf("secret in the logs: %s", l)
	}
	if len(found) > 0 {
		t.Logf("logs:\n%s", out)
	}
	t.Logf("secrets: %d bytes of logs (%d lines) checked against the private key (%d-character windows), %d installation tokens, %d Authorization credentials, the webhook secret and %d signatures",
		len(out), strings.Count(out, "\n"), keyWindow, len(tokens), len(auth), len(sigs))
}
