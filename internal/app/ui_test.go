package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ui"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestStatusPageIsOffUnlessConfigured(t *testing.T) {
	tests := []struct {
		name     string
		set      func(*Config)
		status   int
		body     string
		warnings int
	}{
		{"off", func(*Config) {}, http.StatusNotFound, "", 0},
		{"no auth: served, with a loud warning", func(c *Config) { c.UINoAuth = true }, http.StatusOK, "acme/gitops", 1},
		{"sign-in: a redirect to GitHub", func(c *Config) {
			c.UIOAuth = &ui.OAuth{ClientID: "Iv1.x", ClientSecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}}
			c.PublicURL = "https://promobot.example.com"
		}, http.StatusSeeOther, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(t)
			cfg.Worker, cfg.Webhook = false, true // no GitHub calls
			var logs syncBuf
			cfg.Log = zerolog.New(&logs)
			tt.set(&cfg)
			a, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Shutdown(context.Background())
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get("http://" + a.Addr() + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Errorf("GET / = %d %.200s", resp.StatusCode, b)
			}
			if n := strings.Count(logs.String(), "open to everyone without sign-in"); n != tt.warnings {
				t.Errorf("%d warnings about --ui-no-auth, want %d", n, tt.warnings)
			}
			if resp, err := client.Get("http://" + a.Addr() + "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("healthz: %v %v", resp, err)
			}
		})
	}
}
