package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

var testSecret = []byte("It's a Secret to Everybody")

var fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func loadRules(t testing.TB) *rules.Rules {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse("testdata/rules.yaml", b)
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	return rs
}

func payload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit replaces exactly one occurrence of old in a payload's bytes, keeping
// the rest byte-identical.
func edit(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(b, []byte(old)); n != 1 {
		t.Fatalf("edit: %q occurs %d times", old, n)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// recorder is a Publisher that records what it was asked to store.
type recorder struct {
	mu    sync.Mutex
	calls [][]queue.Message
	err   error
}

func (r *recorder) Publish(_ context.Context, msgs []queue.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.calls = append(r.calls, append([]queue.Message(nil), msgs...))
	return nil
}

func (r *recorder) messages() []queue.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []queue.Message
	for _, c := range r.calls {
		out = append(out, c...)
	}
	return out
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// lines decodes every JSON log line.
func (s *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

type fixture struct {
	h   *Handler
	pub *recorder
	reg *prometheus.Registry
	log *syncBuffer
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{pub: &recorder{}, reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	rs := loadRules(t)
	cfg := Config{
		Secret:     testSecret,
		Rules:      func() *rules.Rules { return rs },
		Publisher:  f.pub,
		Log:        zerolog.New(f.log),
		Registerer: f.reg,
		Now:        func() time.Time { return fixedNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// delivery is one request to the handler.
type delivery struct {
	method      string // default POST
	event       string
	id          string
	body        []byte
	sig         *string // nil: sign body with testSecret
	contentType *string // nil: application/json
	header      map[string]string
}

func strp(s string) *string { return &s }

func (d delivery) request() *http.Request {
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/webhook", bytes.NewReader(d.body))
	if d.event != "" {
		r.Header.Set("X-GitHub-Event", d.event)
	}
	if d.id != "" {
		r.Header.Set("X-GitHub-Delivery", d.id)
	}
	if d.sig == nil {
		r.Header.Set("X-Hub-Signature-256", sign(testSecret, d.body))
	} else if *d.sig != "" {
		r.Header.Set("X-Hub-Signature-256", *d.sig)
	}
	if d.contentType == nil {
		r.Header.Set("Content-Type", "application/json")
	} else if *d.contentType != "" {
		r.Header.Set("Content-Type", *d.contentType)
	}
	for k, v := range d.header {
		r.Header.Set(k, v)
	}
	return r
}

func (f *fixture) do(d delivery) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, d.request())
	return w
}

func (f *fixture) count(event, outcome string) float64 {
	return testutil.ToFloat64(f.h.m.deliveries.WithLabelValues(event, outcome))
}
