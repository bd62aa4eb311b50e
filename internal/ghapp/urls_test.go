package ghapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

func TestAPIURLs(t *testing.T) {
	const (
		ghREST    = "https://api.github.com/"
		ghUploads = "https://uploads.github.com/"
		esREST    = "https://ghes.example.com/api/v3/"
		esUploads = "https://ghes.example.com/api/uploads/"
	)
	for _, tc := range []struct{ in, rest, uploads string }{
		{"", ghREST, ghUploads},
		{"https://api.github.com", ghREST, ghUploads},
		{"https://api.github.com/", ghREST, ghUploads},
		{"https://github.com", ghREST, ghUploads},
		{"https://github.com/", ghREST, ghUploads},
		{"https://ghes.example.com", esREST, esUploads},
		{"https://ghes.example.com/", esREST, esUploads},
		{"https://ghes.example.com/api/v3", esREST, esUploads},
		{"https://ghes.example.com/api/v3/", esREST, esUploads},
		{" HTTPS://GHES.example.com/ ", esREST, esUploads},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v3/", "http://127.0.0.1:8080/api/uploads/"},
		{"https://proxy.example.com/github/api/v3", "https://proxy.example.com/github/api/v3/", "https://proxy.example.com/github/api/uploads/"},
		{"https://api.acme.ghe.com", "https://api.acme.ghe.com/", "https://api.acme.ghe.com/"},
	} {
		rest, uploads, err := APIURLs(tc.in)
		if err != nil || rest != tc.rest || uploads != tc.uploads {
			t.Errorf("APIURLs(%q) = %q, %q, %v; want %q, %q", tc.in, rest, uploads, err, tc.rest, tc.uploads)
		}
		c := &Clients{rest: rest}
		wantToken := strings.TrimSuffix(tc.rest, "/") + "/app/installations/7/access_tokens"
		if got := c.tokenBase() + "/app/installations/7/access_tokens"; got != wantToken {
			t.Errorf("token URL for %q = %q, want %q", tc.in, got, wantToken)
		}
	}
	for _, bad := range []string{
		"ghes.example.com", "ftp://ghes.example.com", "https://", "https://ghes.example.com/api",
		"https://ghes.example.com/api/v3/repos", "https://ghes.example.com/github", "https://ghes.example.com/?x=1",
		"https://user:secret@ghes.example.com", "https://api.github.com/api/v3", "https://ghes.example.com/#frag", "::",
	} {
		if rest, _, err := APIURLs(bad); err == nil {
			t.Errorf("APIURLs(%q) = %q, want an error", bad, rest)
		}
	}
	if _, err := New(Config{APIURL: "https://ghes.example.com/api", Token: "t"}); err == nil {
		t.Error("New accepted an API URL that is not one")
	}
}

// TestEnterpriseURLsThroughGHInstallation: whichever form of the GitHub
// Enterprise Server URL is configured, REST calls and the installation-token
// exchange both go under /api/v3/.
func TestEnterpriseURLsThroughGHInstallation(t *testing.T) {
	key, _, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v3/app/installations/7/access_tokens":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"token": "ghs_test", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		case "GET /api/v3/repos/acme/gitops":
			fmt.Fprint(w, `{"full_name":"acme/gitops","clone_url":"https://ghes.example.com/acme/gitops.git"}`)
		default:
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	for _, form := range []string{srv.URL, srv.URL + "/", srv.URL + "/api/v3", srv.URL + "/api/v3/"} {
		t.Run(form, func(t *testing.T) {
			mu.Lock()
			paths = nil
			mu.Unlock()
			c, err := New(Config{APIURL: form, AppID: 99, PrivateKey: key, Retry: ghretry.Config{ContentPace: -1, MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			in, err := c.For(ctx, "acme/gitops", 7)
			if err != nil {
				t.Fatal(err)
			}
			if u, err := c.CloneURL(ctx, in, "acme/gitops", ""); err != nil || u != "https://ghes.example.com/acme/gitops.git" {
				t.Fatalf("clone url %q %v", u, err)
			}
			if tok, err := in.Token(ctx); err != nil || tok != "ghs_test" {
				t.Fatalf("token %q %v", tok, err)
			}
			if got := in.Client.UploadURL.String(); got != srv.URL+"/api/uploads/" {
				t.Errorf("upload URL %q, want %q", got, srv.URL+"/api/uploads/")
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{"POST /api/v3/app/installations/7/access_tokens", "GET /api/v3/repos/acme/gitops"}
			if !slices.Equal(paths, want) {
				t.Errorf("requests %q, want %q", paths, want)
			}
		})
	}
}
