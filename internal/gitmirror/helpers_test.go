package gitmirror

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testRepo  = "acme/gitops"
	testToken = "ghs_s3cretT0kenValue1234567890"
)

// base is the time every test history starts from; commit i is at base+i hours.
var base = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

func hour(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }

func goodCreds(context.Context) (string, string, error) { return "x-access-token", testToken, nil }

// gitCmd runs the git CLI with no user or system config, so the machine's
// settings cannot change the test.
func gitCmd(tb testing.TB, dir string, env []string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir,
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// upstream is a bare repository served over smart HTTP, with a working clone
// that commits and pushes to it.
type upstream struct {
	tb       testing.TB
	root     string // GIT_PROJECT_ROOT
	bare     string
	work     string
	url      string // clone URL over HTTP
	infoRefs atomic.Int64
	// gate, when set, holds every info/refs request until it is closed;
	// arrived gets one value per held request.
	mu      sync.Mutex
	gate    chan struct{}
	arrived chan struct{}
}

func newUpstream(tb testing.TB) *upstream {
	tb.Helper()
	root := tb.TempDir()
	u := &upstream{tb: tb, root: root, bare: filepath.Join(root, "acme", "gitops.git"), work: tb.TempDir()}
	if err := os.MkdirAll(u.bare, 0o755); err != nil {
		tb.Fatal(err)
	}
	gitCmd(tb, u.bare, nil, "init", "-q", "--bare", "-b", "main")
	gitCmd(tb, u.work, nil, "init", "-q", "-b", "main")
	gitCmd(tb, u.work, nil, "remote", "add", "origin", u.bare)

	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Fatal(err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "x-access-token" || pass != testToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			u.infoRefs.Add(1)
			u.mu.Lock()
			gate, arrived := u.gate, u.arrived
			u.mu.Unlock()
			if gate != nil {
				arrived <- struct{}{}
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	u.url = srv.URL + "/acme/gitops.git"
	return u
}

// hold makes info/refs requests wait until release is called.
func (u *upstream) hold() (arrived <-chan struct{}, release func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gate, u.arrived = make(chan struct{}), make(chan struct{}, 16)
	gate := u.gate
	var once sync.Once
	return u.arrived, func() {
		once.Do(func() {
			u.mu.Lock()
			u.gate = nil
			u.mu.Unlock()
			close(gate)
		})
	}
}

// commit writes files (an empty value deletes the file) on branch, commits at
// the given time and pushes (forced). It returns the new sha.
func (u *upstream) commit(branch string, at time.Time, files map[string]string) string {
	u.tb.Helper()
	u.checkout(branch)
	for name, content := range files {
		p := filepath.Join(u.work, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				u.tb.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			u.tb.Fatal(err)
		}
	}
	gitCmd(u.tb, u.work, nil, "add", "-A")
	gitCmd(u.tb, u.work, dated(at), "commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change at %s", at.Format(time.RFC3339)))
	gitCmd(u.tb, u.work, nil, "push", "-q", "-f", "origin", "HEAD:refs/heads/"+branch)
	return gitCmd(u.tb, u.work, nil, "rev-parse", "HEAD")
}

func dated(at time.Time) []string {
	d := fmt.Sprintf("%d +0000", at.Unix())
	return []string{"GIT_COMMITTER_DATE=" + d, "GIT_AUTHOR_DATE=" + d}
}

// checkout switches the working clone to branch, creating it from HEAD.
func (u *upstream) checkout(branch string) {
	u.tb.Helper()
	cur := gitCmd(u.tb, u.work, nil, "symbolic-ref", "--short", "HEAD")
	if cur == branch {
		return
	}
	if strings.Contains(gitCmd(u.tb, u.work, nil, "branch", "--list", branch), branch) {
		gitCmd(u.tb, u.work, nil, "checkout", "-q", branch)
		return
	}
	gitCmd(u.tb, u.work, nil, "checkout", "-q", "-b", branch)
}

func newMirrors(tb testing.TB, opts ...Option) *Mirrors {
	tb.Helper()
	return New(filepath.Join(tb.TempDir(), "mirrors"), opts...)
}

func mustFetch(tb testing.TB, m *Mirrors, u *upstream) {
	tb.Helper()
	if err := m.Fetch(context.Background(), testRepo, u.url, goodCreds); err != nil {
		tb.Fatalf("fetch: %v", err)
	}
}

func mustRead(tb testing.TB, m *Mirrors, rev, path string) string {
	tb.Helper()
	s, err := m.Snapshot(context.Background(), testRepo, rev)
	if err != nil {
		tb.Fatalf("snapshot %s: %v", rev, err)
	}
	b, err := s.ReadFile(context.Background(), path)
	if err != nil {
		tb.Fatalf("read %s at %s: %v", path, rev, err)
	}
	return string(b)
}
