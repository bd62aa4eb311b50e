package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/githubtest"
)

// lines hands out what a command writes, one line at a time, and keeps it all.
type lines struct {
	pw   *io.PipeWriter
	ch   chan string
	mu   sync.Mutex
	all  strings.Builder
	done chan struct{}
}

func newLines() *lines {
	pr, pw := io.Pipe()
	l := &lines{pw: pw, ch: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.ch <- sc.Text():
			default:
			}
		}
	}()
	return l
}

// await returns the first line (from now on) matching re.
func (l *lines) await(t *testing.T, ctx context.Context, re *regexp.Regexp) []string {
	t.Helper()
	for {
		select {
		case s := <-l.ch:
			if m := re.FindStringSubmatch(s); m != nil {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no line matching %s; got:\n%s", re, l.String())
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// TestAppCreateEndToEnd runs `promobot app create` against the GitHub test
// server, with the test as the browser, and then starts `promobot serve`
// with the files it wrote: the webhook secret signs deliveries and the App's
// key authenticates promobot's GitHub calls.
func TestAppCreateEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// GitHub's App list (the delivery reconciler reads its hook's log) shows
	// up once a request for it arrives.
	listed := make(chan struct{})
	var once sync.Once
	gh, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), AppID: 1, AppSlug: "older-app", InstallationID: 77, Logf: func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); strings.Contains(msg, "GET /api/v3/app/hook/deliveries") && strings.HasSuffix(msg, "-> 200") {
			once.Do(func() { close(listed) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)

	out := filepath.Join(t.TempDir(), "creds")
	stdout := newLines()
	var stderr bytes.Buffer
	root := newRoot(stdout.pw, &stderr)
	root.SetArgs([]string{"app", "create", "--org", "acme", "--github-url", gh.URL(), "--public-url", "https://promobot.example.com",
		"--out", out, "--no-browser", "--timeout", "1m"})
	ran := make(chan error, 1)
	go func() { ran <- root.ExecuteContext(ctx); _ = stdout.pw.Close() }()

	page := stdout.await(t, ctx, regexp.MustCompile(`^Open (http://127\.0\.0\.1:\d+/) in a browser`))[1]
	// The browser: load the page, submit its form to GitHub, follow the redirect back.
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(body)
	manifest := regexp.MustCompile(`name="manifest" value="([^"]+)"`).FindSubmatch(body)
	if action == nil || manifest == nil {
		t.Fatalf("page:\n%s", body)
	}
	var posted struct {
		Hook struct{ URL string } `json:"hook_attributes"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(manifest[1]))), &posted); err != nil || posted.Hook.URL != "https://promobot.example.com/webhook" {
		t.Fatalf("posted manifest: %v %+v", err, posted)
	}
	resp, err = http.PostForm(html.UnescapeString(string(action[1])), url.Values{"manifest": {html.UnescapeString(string(manifest[1]))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("callback = %d", resp.StatusCode)
	}
	if err := <-ran; err != nil {
		t.Fatalf("app create: %v\n%s", err, stderr.String())
	}
	<-stdout.done
	printed := stdout.String()
	for _, want := range []string{"PROMOBOT_APP_ID=", "PROMOBOT_PRIVATE_KEY_FILE=" + filepath.Join(out, "private-key.pem"),
		"PROMOBOT_GITHUB_API_URL=" + gh.APIURL(), "/apps/promobot/installations/new", "credentials.existingSecret"} {
		if !strings.Contains(printed, want) {
			t.Errorf("output lacks %q:\n%s", want, printed)
		}
	}
	files := map[string]string{}
	for _, n := range []string{"app-id", "private-key.pem", "webhook-secret", "client-id", "client-secret"} {
		p := filepath.Join(out, n)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", n, st, err)
		}
		b, _ := os.ReadFile(p)
		files[n] = string(b)
		if n != "app-id" && strings.Contains(printed, strings.TrimSpace(string(b))) {
			t.Errorf("%s is printed", n)
		}
	}

	// A second run refuses the directory before it talks to GitHub.
	if code, _, errOut := run(t, "app", "create", "--org", "acme", "--github-url", gh.URL(), "--out", out, "--no-browser"); code == 0 || !strings.Contains(errOut, "does not overwrite") {
		t.Errorf("second run = %d %s", code, errOut)
	}

	// promobot starts with the written files.
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("version: 1\nenvironments: [{name: dev, auto: true}]\nservices:\n  - {name: web, repo: acme/gitops, image: r.example.com/web, targets: {dev: {kustomize: apps/web/dev}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROMOBOT_APP_ID", files["app-id"])
	t.Setenv("PROMOBOT_PRIVATE_KEY_FILE", filepath.Join(out, "private-key.pem"))
	serveErr := newLines()
	srv := newRoot(io.Discard, serveErr.pw)
	srv.SetArgs([]string{"serve", "--rules", rules, "--listen", "127.0.0.1:0", "--data-dir", dir, "--github-api-url", gh.APIURL(),
		"--webhook-secret-file", filepath.Join(out, "webhook-secret"), "--redeliver-interval", "1h", "--github-pace", "0"})
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.ExecuteContext(sctx); _ = serveErr.pw.Close() }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := serveErr.await(t, ctx, regexp.MustCompile(`"listen":"([^"]+)".*"promobot started"`))[1]

	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"App","id":1,"name":"web","active":true,"events":["push"],"config":{"content_type":"json","insecure_ssl":"0","url":"https://promobot.example.com/webhook"},"updated_at":"2024-01-01T00:00:00Z","created_at":"2024-01-01T00:00:00Z","app_id":1}}`)
	deliver := func(secret string) int {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(ping)
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/webhook", bytes.NewReader(ping))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "ping")
		req.Header.Set("X-GitHub-Delivery", "0b4d3c2a-0000-11ef-8000-000000000001")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := deliver(files["webhook-secret"]); got != http.StatusOK {
		t.Errorf("delivery signed with the written secret = %d, want 200", got)
	}
	if got := deliver("not-the-secret"); got != http.StatusUnauthorized {
		t.Errorf("delivery signed with another secret = %d, want 401", got)
	}
	// The delivery reconciler's first run reads the App's hook log with a
	// JWT signed by the written key.
	select {
	case <-listed:
	case <-ctx.Done():
		t.Fatalf("promobot never read the App's deliveries with the new App's JWT; serve said:\n%s", serveErr.String())
	}
	jwtOK := false
	for _, c := range gh.Calls() {
		if c.Route == "GET /app/hook/deliveries" && c.Auth == "app-jwt" && c.Status == 200 {
			jwtOK = true
		}
	}
	if !jwtOK {
		t.Errorf("no authenticated App call: %+v", gh.Calls())
	}
}
