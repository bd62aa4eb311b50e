package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func noAuthHandler(t testing.TB, src Source) *Handler {
	t.Helper()
	h, err := New(Config{Source: src, NoAuth: true, Log: zerolog.Nop(), Now: func() time.Time { return fixtureNow }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t testing.TB, h http.Handler, target string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestWithoutSignInConfiguredEveryUIPathIs404(t *testing.T) {
	h, err := New(Config{Source: smallSource(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/?repo=acme/gitops", "/repos/acme/gitops/services/payment-service", "/api/v1/status",
		"/api/v1/repos/acme/gitops/services/payment-service", "/ui/style.css", "/auth/login", "/auth/callback?code=x&state=y"} {
		if code, body, _ := get(t, h, p); code != http.StatusNotFound || strings.Contains(body, "payment") {
			t.Errorf("GET %s = %d %q, want 404 without data", p, code, body)
		}
	}
}

func TestMatrixShowsTagsPRsWaitsAndDrift(t *testing.T) {
	h := noAuthHandler(t, smallSource())
	code, body, hdr := get(t, h, "/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{
		`<th scope="col">staging</th>`, "payment-service", "v1.4.0", "v1.3.0", "v1.2.0", "sha256:0123456789ab…",
		`href="https://github.example/acme/gitops/pull/7">#7</a>`, "by alice",
		`open PR <a href="https://github.example/acme/gitops/pull/9">#9</a>`,
		"on gate <em>window</em>: outside the deployment window Mon-Thu 09:00-16:00; opens <time datetime=\"2026-11-21T08:00:00Z\">",
		"<strong>Drift</strong> (hand-edit): last changed by carol, not promobot",
		`<a href="/repos/acme/gitops/services/payment-service">payment-service</a>`,
		"acme/secret-gitops", `<label for="f-service">Service</label>`, "Open to everyone",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestFilters(t *testing.T) {
	h := noAuthHandler(t, smallSource())
	tests := []struct {
		query        string
		want, absent []string
	}{
		{"repo=acme/secret-gitops", []string{"vault-agent"}, []string{"payment-service</a>"}},
		{"service=LEDG", []string{"ledger</a>"}, []string{"payment-service</a>", "vault-agent"}},
		{"env=prod", []string{`<th scope="col">prod</th>`, "v1.2.0"}, []string{`<th scope="col">dev</th>`, "v1.4.0"}},
		{"service=nothing-matches", []string{"No service matches."}, []string{"v1.2.0"}},
	}
	for _, tt := range tests {
		_, body, _ := get(t, h, "/?"+tt.query)
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: lacks %q", tt.query, w)
			}
		}
		for _, a := range tt.absent {
			if strings.Contains(body, a) {
				t.Errorf("%s: shows %q", tt.query, a)
			}
		}
	}
}

func TestTimelinePagesNewestFirst(t *testing.T) {
	h := noAuthHandler(t, smallSource())
	code, body, _ := get(t, h, "/repos/acme/gitops/services/payment-service")
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	first, last := strings.Index(body, "PAY-0<"), strings.Index(body, "PAY-49<")
	if first < 0 || last < first || strings.Contains(body, "PAY-50<") {
		t.Fatalf("first page is not changes 0..49 newest first")
	}
	if !strings.Contains(body, `href="/repos/acme/gitops/services/payment-service?page=2" rel="next"`) {
		t.Error("no link to older changes")
	}
	_, body, _ = get(t, h, "/repos/acme/gitops/services/payment-service?page=3")
	if !strings.Contains(body, "PAY-119<") || strings.Contains(body, "rel=\"next\"") || !strings.Contains(body, "page=2\" rel=\"prev\"") {
		t.Error("last page wrong")
	}
	code, body, _ = get(t, h, "/api/v1/repos/acme/gitops/services/payment-service?page=2&per_page=10")
	var tl Timeline
	if err := json.Unmarshal([]byte(body), &tl); err != nil || code != 200 {
		t.Fatalf("api: %d %v", code, err)
	}
	if tl.Total != 120 || len(tl.Changes) != 10 || tl.Changes[0].Ticket != "PAY-10" || tl.NextPage != 3 || len(tl.Current) != 3 {
		t.Errorf("api page = total %d, %d changes, first %q, next %d, current %d", tl.Total, len(tl.Changes), tl.Changes[0].Ticket, tl.NextPage, len(tl.Current))
	}
	for _, p := range []string{"/repos/acme/gitops/services/nope", "/api/v1/repos/acme/nope/services/ledger"} {
		if code, _, _ := get(t, h, p); code != 404 {
			t.Errorf("GET %s = %d, want 404", p, code)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	h := noAuthHandler(t, smallSource())
	code, body, hdr := get(t, h, "/api/v1/status?env=prod")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("code %d type %s", code, hdr.Get("Content-Type"))
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	c := st.Repositories[0].Services[0].Cells
	if len(c) != 1 || c[0].Env != "prod" || c[0].Waiting[0].Gate != "window" || c[0].Digest == "" {
		t.Errorf("cells = %+v", c)
	}
	for _, f := range []string{`"generatedAt"`, `"repositories"`, `"environments"`, `"promotedBy"`, `"prUrl"`, `"opensAt"`, `"drift"`, `"kind"`} {
		if !strings.Contains(body, f) {
			t.Errorf("JSON lacks field %s", f)
		}
	}
}

func TestHostileLinksAreNotRendered(t *testing.T) {
	src := smallSource()
	c := &src.status.Repositories[0].Services[0].Cells[1]
	c.PRURL = "javascript:alert(1)"
	c.Tag = "<script>alert(1)</script>"
	_, body, _ := get(t, noAuthHandler(t, src), "/")
	if strings.Contains(body, "javascript:") || strings.Contains(body, "<script>") {
		t.Error("hostile data reached the page unescaped")
	}
}

func TestWebURLFromAPI(t *testing.T) {
	for api, want := range map[string]string{
		"https://api.github.com/":            "https://github.com",
		"https://api.github.com":             "https://github.com",
		"https://ghe.example.com/api/v3/":    "https://ghe.example.com",
		"https://ghe.example.com/api/v3":     "https://ghe.example.com",
		"http://127.0.0.1:4000/api/v3/":      "http://127.0.0.1:4000",
		"https://ghe.example.com/":           "https://ghe.example.com",
		"https://ghe.example.com/x/api/v3/?": "https://ghe.example.com/x",
	} {
		if got, err := WebURLFromAPI(api); err != nil || got != want {
			t.Errorf("WebURLFromAPI(%q) = %q, %v; want %q", api, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "://", "github.com"} {
		if _, err := WebURLFromAPI(bad); err == nil {
			t.Errorf("WebURLFromAPI(%q) accepted", bad)
		}
	}
}

func TestHostilePathsAndQueries(t *testing.T) {
	h := noAuthHandler(t, smallSource())
	long := strings.Repeat("x", 100000)
	tests := []struct {
		path string
		code int
	}{
		{"/repos/acme/gitops/services/..%2f..%2fsecret-gitops", 404},
		{"/repos/acme/gitops/services/payment-service/extra", 404},
		{"/repos/acme/../secret-gitops/services/vault-agent", 307}, // ServeMux redirects to the cleaned path
		{"/repos/acme/gitops/services/" + long, 404},
		{"/?service=" + long + "&repo=" + long, 200},
		{"/?env=%00%ff&service=%3Cscript%3E", 200},
		{"/repos/acme/gitops/services/payment-service?page=-5&per_page=0", 200},
		{"/repos/acme/gitops/services/payment-service?page=99999999999999999999&per_page=99999999", 200},
		{"/api/v1/repos/acme/gitops/services/payment-service?page=%ZZ", 200},
		{"/api/v1/nope", 404},
		{"/auth/callback", 404}, // no sign-in configured: no auth routes
	}
	for _, tt := range tests {
		code, body, _ := get(t, h, tt.path)
		if code != tt.code {
			t.Errorf("GET %.80s = %d, want %d", tt.path, code, tt.code)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, long) {
			t.Errorf("GET %.80s reflects hostile input", tt.path)
		}
	}
	_, body, _ := get(t, h, "/repos/acme/gitops/services/payment-service?page=99999999999999999999&per_page=99999999")
	if !strings.Contains(body, "120 tag changes") {
		t.Error("an absurd page is not answered sanely")
	}
}
