package reliability

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// client is shared by every test: enough idle connections per host that a
// storm of concurrent deliveries reuses connections instead of exhausting
// ephemeral ports, and a timeout so no request can hang a test.
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
}

// signature is GitHub's X-Hub-Signature-256 value for body.
func signature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver POSTs a signed delivery the way GitHub does and returns the status.
func deliver(ctx context.Context, url string, secret []byte, event, id string, payload []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", signature(secret, payload))
	req.Header.Set("User-Agent", "GitHub-Hookshot/reliability")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, nil
}

// workflowRun is a successful build of workflow in acme/payment-service at
// sha: the members promobot reads of GitHub's workflow_run payload.
func workflowRun(ghURL, workflow, sha string, run int) ([]byte, error) {
	p := map[string]any{
		"action":       "completed",
		"installation": map[string]any{"id": demo.InstallationID},
		"repository": map[string]any{
			"full_name": demo.SourceRepo, "name": "payment-service",
			"html_url": ghURL + "/" + demo.SourceRepo, "owner": map[string]any{"login": "acme"},
		},
		"sender":   map[string]any{"login": "alice"},
		"workflow": map[string]any{"path": workflow},
		"workflow_run": map[string]any{
			"conclusion": "success", "status": "completed", "head_branch": "main", "head_sha": sha,
			"path": workflow, "run_number": run, "display_title": fmt.Sprintf("PAY-%d: build %d", run, run),
			"html_url":    fmt.Sprintf("%s/%s/actions/runs/%d", ghURL, demo.SourceRepo, 1000+run),
			"head_commit": map[string]any{"id": sha, "message": fmt.Sprintf("PAY-%d: build %d", run, run)},
		},
	}
	return json.Marshal(p)
}

// push is a push to the GitOps repository's main branch at sha that
// modified paths (e.g. a merged dev change GitHub delivers again).
func push(ghURL, sha string, paths []string) ([]byte, error) {
	commit := map[string]any{
		"id": sha, "message": "Promote services in dev", "url": ghURL + "/" + demo.GitOpsRepo + "/commit/" + sha,
		"added": []string{}, "modified": paths, "removed": []string{},
	}
	p := map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"compare":      ghURL + "/" + demo.GitOpsRepo + "/compare/" + sha,
		"installation": map[string]any{"id": demo.InstallationID},
		"repository": map[string]any{
			"full_name": demo.GitOpsRepo, "html_url": ghURL + "/" + demo.GitOpsRepo,
			"clone_url": ghURL + "/" + demo.GitOpsRepo + ".git",
		},
		"sender":      map[string]any{"login": "alice"},
		"head_commit": commit,
		"commits":     []any{commit},
	}
	return json.Marshal(p)
}

// hexID is a deterministic 40-hex "sha" for n under prefix p (one hex
// digit); its first seven digits, the short sha tags are made of, are n.
func hexID(p byte, n int) string {
	return fmt.Sprintf("%07x%c%032x", n, p, n)
}

// deliveryID is a GitHub-style GUID, unique per (test, n).
func deliveryID(prefix string, n int) string {
	return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n)
}

// overlay is a Kustomize overlay of svc in env at tag.
func overlay(svc, env, tag string) string {
	return fmt.Sprintf(`# %[1]s in %[2]s. The image tag below is managed by promobot.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %[1]s-%[2]s
resources:
  - ../../base
images:
  - name: registry.example.com/%[1]s
    newTag: %[3]s # promoted by promobot
`, svc, env, tag)
}

// serviceFiles is the GitOps tree of svc: a base and three overlays.
func serviceFiles(svc string, tags map[string]string) map[string]string {
	files := map[string]string{
		"apps/" + svc + "/base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n",
		"apps/" + svc + "/base/deployment.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: %[1]s
          image: registry.example.com/%[1]s:latest
`, svc),
	}
	for env, tag := range tags {
		files[overlayPath(svc, env)] = overlay(svc, env, tag)
	}
	return files
}

func overlayPath(svc, env string) string {
	return "apps/" + svc + "/overlays/" + env + "/kustomization.yaml"
}

// rulesFor is a rules file with dev (direct) → staging (auto) → prod for
// services; source, when set, gives each service its own build workflow
// .github/workflows/<service>.yml in acme/payment-service.
func rulesFor(services []string, source bool) []byte {
	var b strings.Builder
	b.WriteString(`version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - { name: prod }
services:
`)
	for _, s := range services {
		fmt.Fprintf(&b, "  - name: %s\n    repo: %s\n    image: registry.example.com/%s\n", s, demo.GitOpsRepo, s)
		if source {
			fmt.Fprintf(&b, "    source: { repo: %s, workflow: .github/workflows/%s.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }\n", demo.SourceRepo, s)
		}
		b.WriteString("    targets:\n")
		for _, env := range []string{"dev", "staging", "prod"} {
			fmt.Fprintf(&b, "      %s: { kustomize: apps/%s/overlays/%s }\n", env, s, env)
		}
	}
	return []byte(b.String())
}

// final reports whether r ends its intent's handling (a Delayed result
// is followed by another delivery of the same intent).
func final(r worker.Result) bool { return r.Outcome != worker.Delayed }

// finals returns the final results by intent id, failing on an intent
// that reached a final outcome twice (processed twice).
func finals(t *testing.T, rs []worker.Result) map[string]worker.Result {
	t.Helper()
	out := map[string]worker.Result{}
	for _, r := range rs {
		if !final(r) {
			continue
		}
		if prev, dup := out[r.Intent.ID]; dup {
			t.Errorf("intent %s handled twice: %s (%s), then %s (%s)", r.Intent.ID, prev.Outcome, prev.Reason, r.Outcome, r.Reason)
		}
		out[r.Intent.ID] = r
	}
	return out
}

// awaitFinals waits until every id in ids has a final result.
func awaitFinals(ctx context.Context, h *demo.Harness, ids []string) error {
	for {
		rs := h.Results()
		got := map[string]bool{}
		for _, r := range rs {
			if final(r) {
				got[r.Intent.ID] = true
			}
		}
		missing := 0
		for _, id := range ids {
			if !got[id] {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		// Result number len(rs) is the next one: Await returns as soon as it exists.
		if _, err := h.Await(ctx, len(rs)); err != nil {
			return fmt.Errorf("%d of %d intents not handled: %w", missing, len(ids), err)
		}
	}
}

// intentID is the message id of a delivery's first (only) intent.
func intentID(delivery string) string { return intent.MsgID(delivery, 0) }

// streamIDs reads every message id stored in the intent stream.
func streamIDs(ctx context.Context, js jetstream.JetStream) (map[string]int, jetstream.StreamState, error) {
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		return nil, jetstream.StreamState{}, fmt.Errorf("stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, jetstream.StreamState{}, fmt.Errorf("stream info: %w", err)
	}
	ids := map[string]int{}
	st := info.State
	if st.Msgs == 0 {
		return ids, st, nil
	}
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted (acked) or never stored at this sequence
		}
		if err != nil {
			return nil, st, fmt.Errorf("get message %d: %w", seq, err)
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	return ids, st, nil
}

// jsConnect opens a JetStream connection for inspecting the queue.
func jsConnect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// intentCommits counts, per Promobot-Intent trailer, the commits in every
// ref of the bare repository at dir.
func intentCommits(ctx context.Context, dir string) (map[string]int, error) {
	out, err := exec.CommandContext(ctx, "git", "--git-dir", dir, "log", "--all", "--format=%B%x00").Output()
	if err != nil {
		return nil, fmt.Errorf("git log %s: %w", dir, err)
	}
	counts := map[string]int{}
	for _, msg := range strings.Split(string(out), "\x00") {
		for _, line := range strings.Split(msg, "\n") {
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "Promobot-Intent: "); ok {
				counts[id]++
			}
		}
	}
	return counts, nil
}

// syncBuffer is an io.Writer safe for concurrent writers (loggers).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond every interval until it holds or ctx ends.
func eventually(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
